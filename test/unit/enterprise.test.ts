import { newInvoiceBalance, applyPayment } from '../../domain/credit-notes';
import {
  buildContractInvoice,
  changeSeats,
  contractInvoicePeriods,
  contractProblem,
  contractStatusAt,
  netDueDate,
  receivableStatus,
  reminderSchedule,
  remindersToSend,
  type EnterpriseContract,
} from '../../domain/enterprise';
import { invoiceTotals } from '../../domain/invoice-totals';
import { taxTreatmentFor } from '../../domain/tax';

const acme: EnterpriseContract = {
  id: 'ctr_acme',
  customerId: 'cus_acme',
  currency: 'USD',
  startsAt: '2031-03-01T00:00:00.000Z',
  termMonths: 12,
  billing: 'quarter',
  lineItems: [
    { id: 'seats', description: 'Sales team training', unitAmount: 45_000, quantity: 20, unit: 'seat' },
    { id: 'review', description: 'Quarterly business review', unitAmount: 1_200_000, quantity: 1, unit: 'item' },
  ],
};

describe('enterprise contracts', () => {
  it('invoices each quarter of the term on NET 30', () => {
    expect(contractInvoicePeriods(acme).map((p) => p.start)).toEqual([
      '2031-03-01T00:00:00.000Z',
      '2031-06-01T00:00:00.000Z',
      '2031-09-01T00:00:00.000Z',
      '2031-12-01T00:00:00.000Z',
    ]);
    // 20 seats x 45,000 = 900,000 + 1,200,000 = 2,100,000; due 30 days after Mar 1 = Mar 31.
    const invoice = buildContractInvoice(acme, 0);
    expect(invoice).toMatchObject({
      id: 'in_acme_0000',
      customerId: 'cus_acme',
      subscriptionId: null,
      subtotal: 2_100_000,
      total: 2_100_000,
      issuedAt: '2031-03-01T00:00:00.000Z',
      dueAt: '2031-03-31T00:00:00.000Z',
    });
    expect(invoice.lines.map((l) => [l.description, l.quantity, l.unitAmount, l.amount])).toEqual([
      ['Sales team training (20 seats)', 20, 45_000, 900_000],
      ['Quarterly business review', 1, 1_200_000, 1_200_000],
    ]);
  });

  it('reverse-charges an EU business customer on the invoice', () => {
    const invoice = buildContractInvoice({ ...acme, currency: 'EUR' }, 1, taxTreatmentFor({ country: 'NL', vatId: 'NL001' }));
    expect(invoiceTotals(invoice.lines)).toMatchObject({ tax: 0, total: 2_100_000, taxes: [{ reverseCharge: true }] });
  });

  it('refuses a contract that cannot be invoiced as written', () => {
    expect(contractProblem({ ...acme, termMonths: 10 })).toBe('a 10-month term cannot be invoiced per quarter; use a multiple of 3 months');
    expect(contractProblem(acme)).toBeNull();
    expect(contractInvoicePeriods({ ...acme, billing: 'upfront' })).toEqual([{ index: 0, start: '2031-03-01T00:00:00.000Z', end: '2032-03-01T00:00:00.000Z' }]);
  });

  it('reminds at due -7, due, +7 and +14 days while anything is owed', () => {
    const dueAt = netDueDate('2031-03-01T00:00:00.000Z');
    expect(reminderSchedule(dueAt)).toEqual([
      { kind: 'due_soon', daysFromDue: -7, at: '2031-03-24T00:00:00.000Z' },
      { kind: 'due_today', daysFromDue: 0, at: '2031-03-31T00:00:00.000Z' },
      { kind: 'overdue', daysFromDue: 7, at: '2031-04-07T00:00:00.000Z' },
      { kind: 'final_notice', daysFromDue: 14, at: '2031-04-14T00:00:00.000Z' },
    ]);
    const open = newInvoiceBalance({ id: 'in_acme_0000', currency: 'USD', total: 2_100_000 });
    expect(remindersToSend(dueAt, open, ['due_soon'], '2031-04-08T00:00:00.000Z').map((r) => r.kind)).toEqual(['due_today', 'overdue']);
    const paid = { ...open, paid: 2_100_000 };
    expect(remindersToSend(dueAt, paid, [], '2031-04-08T00:00:00.000Z')).toEqual([]);
  });

  it('takes partial payments, goes overdue -> past_due, and back when paid', () => {
    const dueAt = '2031-03-31T00:00:00.000Z';
    let balance = newInvoiceBalance({ id: 'in_acme_0000', currency: 'USD', total: 2_100_000 });
    const first = applyPayment(balance, { id: 'wire_1', amount: 1_000_000, method: 'bank', at: '2031-03-20T00:00:00.000Z' });
    if (!first.ok) throw new Error(first.reason);
    balance = first.balance;
    expect(first.amountOwed).toBe(1_100_000);
    expect(first.entries[0]?.lines).toEqual([
      { account: 'cash:bank', debit: 1_000_000, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: 1_000_000 },
    ]);
    expect(receivableStatus(balance, dueAt, '2031-03-25T00:00:00.000Z')).toBe('partially_paid');
    expect(receivableStatus(balance, dueAt, '2031-04-01T00:00:00.000Z')).toBe('overdue');
    expect(contractStatusAt([{ balance, dueAt }], '2031-04-01T00:00:00.000Z')).toBe('past_due');

    expect(applyPayment(balance, { id: 'wire_2', amount: 1_100_001, method: 'bank', at: '2031-04-02T00:00:00.000Z' })).toEqual({
      ok: false,
      reason: 'payment of 1100001 exceeds the 1100000 still owed on invoice in_acme_0000',
    });
    const second = applyPayment(balance, { id: 'wire_2', amount: 1_100_000, method: 'bank', at: '2031-04-02T00:00:00.000Z' });
    if (!second.ok) throw new Error(second.reason);
    expect(receivableStatus(second.balance, dueAt, '2031-04-02T00:00:00.000Z')).toBe('paid');
    expect(contractStatusAt([{ balance: second.balance, dueAt }], '2031-04-02T00:00:00.000Z')).toBe('active');
  });

  it('adds seats now, prorated by day over the invoice period; removes them from the next period', () => {
    // Quarter Mar 1 -> Jun 1 = 31 + 30 + 31 = 92 days. On Apr 10: 40 days used, 52 unused.
    // 5 more seats: 5 x 45,000 = 225,000 x 52 / 92 = 127,173.91 -> 127,174.
    const more = changeSeats(acme, { lineItemId: 'seats', quantity: 25, at: '2031-04-10T00:00:00.000Z' });
    expect(more).toMatchObject({ ok: true, effectiveAt: '2031-04-10T00:00:00.000Z' });
    if (!more.ok) throw new Error(more.reason);
    expect(more.lines).toEqual([
      {
        description: 'Sales team training: 5 additional seats (52 of 92 days)',
        periodStart: '2031-04-10T00:00:00.000Z',
        periodEnd: '2031-06-01T00:00:00.000Z',
        quantity: 1,
        unitAmount: 127_174,
        amount: 127_174,
      },
    ]);
    expect(more.contract.lineItems[0]?.quantity).toBe(25);

    expect(changeSeats(acme, { lineItemId: 'seats', quantity: 15, at: '2031-04-10T00:00:00.000Z' })).toMatchObject({
      ok: true,
      effectiveAt: '2031-06-01T00:00:00.000Z',
      lines: [],
    });
    expect(changeSeats({ ...acme, billing: 'upfront' }, { lineItemId: 'seats', quantity: 15, at: '2031-04-10T00:00:00.000Z' })).toEqual({
      ok: false,
      reason: 'seats on a contract paid up front can be reduced only at renewal',
    });
    expect(changeSeats(acme, { lineItemId: 'review', quantity: 2, at: '2031-04-10T00:00:00.000Z' })).toEqual({
      ok: false,
      reason: 'line item review is not priced per seat',
    });
    expect(changeSeats(acme, { lineItemId: 'seats', quantity: 20, at: '2031-04-10T00:00:00.000Z' })).toEqual({
      ok: false,
      reason: 'line item seats already has 20 seats',
    });
  });
});
