import fc from 'fast-check';
import { billingPeriod } from '../../domain/calendar';
import { lookupRecurringPrice, type PriceSnapshot } from '../../domain/catalog';
import { buildRenewalInvoice, invoiceTotal, renewalInvoiceId } from '../../domain/invoice';
import { assertBalanced, invoiceIssuedEntry, paymentReceivedEntry, UnbalancedEntryError } from '../../domain/ledger';

describe('catalog', () => {
  it.each([
    ['elite', 'month', 500_000],
    ['elite', 'year', 5_400_000], // $5,000 x 12 less 10%
    ['group', 'month', 150_000],
    ['group', 'quarter', 420_000],
    ['community', 'month', 9_700],
    ['community', 'year', 97_000],
  ] as const)('prices %s per %s at %i cents', (plan, interval, cents) => {
    const lookup = lookupRecurringPrice(plan, interval, 'USD');
    expect(lookup).toMatchObject({ ok: true, price: { planId: plan, interval, unitAmount: cents, currency: 'USD', catalogVersion: 1 } });
  });

  it('explains what it cannot price', () => {
    expect(lookupRecurringPrice('platinum', 'month', 'USD')).toEqual({
      ok: false,
      field: 'plan',
      reason: "unknown plan 'platinum'; choose one of elite, group, community",
    });
    expect(lookupRecurringPrice('course', 'month', 'USD')).toMatchObject({ ok: false, field: 'plan' });
    expect(lookupRecurringPrice('community', 'quarter', 'USD')).toEqual({
      ok: false,
      field: 'interval',
      reason: "plan 'community' is not sold per quarter; offered: month, year",
    });
    expect(lookupRecurringPrice('community', 'month', 'EUR')).toEqual({ ok: false, field: 'currency', reason: "plan 'community' has no EUR price" });
  });
});

const community: PriceSnapshot = {
  priceId: 'community-monthly-v1',
  planId: 'community',
  productName: 'Community Access',
  interval: 'month',
  unitAmount: 9700,
  currency: 'USD',
  catalogVersion: 1,
};

describe('invoice', () => {
  it('builds a renewal invoice for one period', () => {
    const period = billingPeriod('2031-01-31T15:00:00.000Z', 'month', 1);
    const invoice = buildRenewalInvoice({ subscriptionId: 'sub_abc', customerId: 'cus_x', price: community, period, quantity: 3 });
    expect(invoice).toEqual({
      id: 'in_abc_0001',
      customerId: 'cus_x',
      subscriptionId: 'sub_abc',
      currency: 'USD',
      lines: [
        {
          description: 'Community Access (monthly)',
          periodStart: '2031-02-28T15:00:00.000Z',
          periodEnd: '2031-03-31T15:00:00.000Z',
          quantity: 3,
          unitAmount: 9700,
          amount: 29_100,
        },
      ],
      subtotal: 29_100,
      total: 29_100,
      issuedAt: '2031-02-28T15:00:00.000Z',
      dueAt: '2031-02-28T15:00:00.000Z',
      periodStart: '2031-02-28T15:00:00.000Z',
      periodEnd: '2031-03-31T15:00:00.000Z',
    });
  });

  it('names invoices after subscription and period', () => {
    expect(renewalInvoiceId('sub_abc', 0)).toBe('in_abc_0000');
    expect(renewalInvoiceId('sub_abc', 123)).toBe('in_abc_0123');
  });

  it('property: the total is the sum of the lines', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 500 }), (quantity, unitAmount, index) => {
        const invoice = buildRenewalInvoice({
          subscriptionId: 'sub_p',
          customerId: 'cus_p',
          price: { ...community, unitAmount },
          period: billingPeriod('2031-01-31T00:00:00.000Z', 'month', index),
          quantity,
        });
        expect(invoice.total).toBe(invoiceTotal(invoice.lines));
        expect(invoice.total).toBe(quantity * unitAmount);
      }),
    );
  });
});

describe('ledger', () => {
  it('books an invoice as receivable against revenue, and a payment as cash against the receivable', () => {
    expect(invoiceIssuedEntry({ id: 'in_1', currency: 'USD', total: 9700, issuedAt: '2031-01-31T15:00:00.000Z' }).lines).toEqual([
      { account: 'accounts_receivable', debit: 9700, credit: 0 },
      { account: 'revenue', debit: 0, credit: 9700 },
    ]);
    const payment = paymentReceivedEntry({
      idempotencyKey: 'in_1:attempt-1',
      invoiceId: 'in_1',
      gateway: 'stripe',
      currency: 'USD',
      amount: 9700,
      receivedAt: '2031-01-31T15:00:00.000Z',
    });
    expect(payment.id).toBe('je_payment_in_1:attempt-1');
    expect(payment.lines).toEqual([
      { account: 'cash:stripe', debit: 9700, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: 9700 },
    ]);
  });

  it('refuses an unbalanced or fractional entry', () => {
    const base = { id: 'je_x', kind: 'invoice_issued' as const, currency: 'USD' as const, occurredAt: '2031-01-01T00:00:00Z', invoiceId: 'in_x' };
    expect(() => assertBalanced({ ...base, lines: [{ account: 'revenue', debit: 0, credit: 1 }] })).toThrow(UnbalancedEntryError);
    expect(() =>
      assertBalanced({ ...base, lines: [{ account: 'revenue', debit: 0.5, credit: 0 }, { account: 'accounts_receivable', debit: 0, credit: 0.5 }] }),
    ).toThrow('amounts must be non-negative integers');
  });

  it('property: every entry the rules produce balances', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), (amount) => {
        for (const entry of [
          invoiceIssuedEntry({ id: 'in', currency: 'USD', total: amount, issuedAt: '2031-01-01T00:00:00Z' }),
          paymentReceivedEntry({ idempotencyKey: 'k', invoiceId: 'in', gateway: 'stripe', currency: 'USD', amount, receivedAt: '2031-01-01T00:00:00Z' }),
        ]) {
          const debits = entry.lines.reduce((t, l) => t + l.debit, 0);
          const credits = entry.lines.reduce((t, l) => t + l.credit, 0);
          expect(debits).toBe(credits);
          expect(debits).toBe(amount);
        }
      }),
    );
  });
});
