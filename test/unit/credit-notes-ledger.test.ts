import fc from 'fast-check';
import {
  amountOwed,
  applyCustomerCredit,
  applyPayment,
  issueCreditNote,
  newInvoiceBalance,
  refundPayment,
  writeOffInvoice,
  type InvoiceBalance,
} from '../../domain/credit-notes';
import { invoiceIssuedEntry, taxedInvoiceIssuedEntry, type JournalEntry } from '../../domain/ledger';

// £100.00 net + 20% VAT = £120.00, paid in full by card.
const issued = taxedInvoiceIssuedEntry({ id: 'in_1', currency: 'GBP', total: 12_000, tax: 2_000, issuedAt: '2031-01-01T00:00:00.000Z' });
const paidInFull = (): InvoiceBalance => ({ ...newInvoiceBalance({ id: 'in_1', currency: 'GBP', total: 12_000, tax: 2_000 }), paid: 12_000 });

function ok<T extends { ok: boolean }>(result: T): Extract<T, { ok: true }> {
  if (!result.ok) throw new Error((result as unknown as { reason: string }).reason);
  return result as Extract<T, { ok: true }>;
}

describe('refunds and credit notes', () => {
  it('books a taxed invoice with the VAT owed to the authorities', () => {
    expect(issued.lines).toEqual([
      { account: 'accounts_receivable', debit: 12_000, credit: 0 },
      { account: 'revenue', debit: 0, credit: 10_000 },
      { account: 'tax_payable', debit: 0, credit: 2_000 },
    ]);
  });

  it('refunds part of a paid invoice: a credit note reverses revenue and tax, the refund returns the cash', () => {
    // Refund £60 of £120: tax share 2,000 x 6,000 / 12,000 = 1,000; revenue 5,000.
    const partial = ok(refundPayment(paidInFull(), { id: 'cn_1', amount: 6_000, reason: 'missed sessions', at: '2031-01-10T00:00:00.000Z', gateway: 'stripe' }));
    expect(partial.creditNote).toMatchObject({ amount: 6_000, tax: 1_000, refunded: 6_000, reducedAmountDue: 0, creditedToBalance: 0 });
    expect(partial.entries.map((e) => [e.id, e.kind, e.lines])).toEqual([
      [
        'je_credit_note_cn_1',
        'credit_note_issued',
        [
          { account: 'revenue', debit: 5_000, credit: 0 },
          { account: 'tax_payable', debit: 1_000, credit: 0 },
          { account: 'accounts_receivable', debit: 0, credit: 6_000 },
        ],
      ],
      [
        'je_refund_cn_1',
        'refund_paid',
        [
          { account: 'accounts_receivable', debit: 6_000, credit: 0 },
          { account: 'cash:stripe', debit: 0, credit: 6_000 },
        ],
      ],
    ]);
    // Then the rest, in full: the tax credited adds up to exactly the invoice's 2,000.
    const rest = ok(refundPayment(partial.balance, { id: 'cn_2', reason: 'canceled', at: '2031-01-11T00:00:00.000Z', gateway: 'stripe' }));
    expect(rest.creditNote).toMatchObject({ amount: 6_000, tax: 1_000 });
    expect(rest.balance).toMatchObject({ credited: 12_000, taxCredited: 2_000, refunded: 12_000 });
    expect(refundPayment(rest.balance, { id: 'cn_3', amount: 1, reason: 'x', at: '2031-01-12T00:00:00.000Z', gateway: 'stripe' })).toEqual({
      ok: false,
      reason: 'cannot credit 1: only 0 of invoice in_1 is left to credit',
    });
  });

  it('splits the tax of uneven credits cumulatively', () => {
    // £94.80 incl. £15.80 VAT. Credit 1,000: 1,580 x 1,000 / 9,480 = 166.67 -> 167. Then the
    // remaining 8,480: cumulative 1,580 x 9,480 / 9,480 = 1,580, minus 167 already = 1,413.
    const balance = newInvoiceBalance({ id: 'in_2', currency: 'GBP', total: 9_480, tax: 1_580 });
    const first = ok(issueCreditNote(balance, { id: 'cn_a', amount: 1_000, reason: 'goodwill', at: '2031-01-02T00:00:00Z' }));
    const second = ok(issueCreditNote(first.balance, { id: 'cn_b', amount: 8_480, reason: 'void', at: '2031-01-03T00:00:00Z' }));
    expect([first.creditNote.tax, second.creditNote.tax]).toEqual([167, 1_413]);
  });

  it('a credit note on an open invoice reduces what is due; beyond that it becomes credit balance', () => {
    const balance = { ...newInvoiceBalance({ id: 'in_3', currency: 'USD', total: 10_000 }), paid: 4_000 };
    const note = ok(issueCreditNote(balance, { id: 'cn_c', amount: 8_000, reason: 'scope cut', at: '2031-02-01T00:00:00Z' }));
    expect(note.creditNote).toMatchObject({ reducedAmountDue: 6_000, refunded: 0, creditedToBalance: 2_000 });
    expect(amountOwed(note.balance)).toBe(0);
    expect(note.entries.map((e) => e.kind)).toEqual(['credit_note_issued', 'customer_credit_granted']);
    // The 2,000 balance pays part of the next invoice.
    const next = newInvoiceBalance({ id: 'in_4', currency: 'USD', total: 9_700 });
    const used = ok(applyCustomerCredit(next, { id: 'use_1', available: 2_000, at: '2031-03-01T00:00:00Z' }));
    expect(used).toMatchObject({ applied: 2_000, remainingCredit: 0 });
    expect(amountOwed(used.balance)).toBe(7_700);
  });

  it('refuses refunds beyond what was paid, and writes off only what is owed', () => {
    const balance = { ...newInvoiceBalance({ id: 'in_5', currency: 'USD', total: 10_000 }), paid: 3_000 };
    expect(issueCreditNote(balance, { id: 'cn', amount: 5_000, refund: 4_000, gateway: 'stripe', reason: 'x', at: '2031-01-01T00:00:00Z' })).toEqual({
      ok: false,
      reason: 'cannot refund 4000: only 3000 was paid on invoice in_5 and not yet refunded',
    });
    const writeOff = ok(writeOffInvoice(balance, { id: 'wo_1', at: '2031-06-01T00:00:00Z' }));
    expect(writeOff.entries[0]?.lines).toEqual([
      { account: 'bad_debt', debit: 7_000, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: 7_000 },
    ]);
    expect(writeOffInvoice(writeOff.balance, { id: 'wo_2', at: '2031-06-02T00:00:00Z' })).toEqual({ ok: false, reason: 'invoice in_5 has nothing owed to write off' });
  });
});

describe('ledger property: every entry balances, and the books agree with the invoice', () => {
  type Op =
    | { kind: 'pay'; share: number }
    | { kind: 'credit'; share: number; refundShare: number }
    | { kind: 'refund'; share: number }
    | { kind: 'write_off' }
    | { kind: 'use_credit'; amount: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('pay' as const), share: fc.integer({ min: 1, max: 100 }) }),
    fc.record({ kind: fc.constant('credit' as const), share: fc.integer({ min: 1, max: 100 }), refundShare: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ kind: fc.constant('refund' as const), share: fc.integer({ min: 1, max: 100 }) }),
    fc.record({ kind: fc.constant('write_off' as const) }),
    fc.record({ kind: fc.constant('use_credit' as const), amount: fc.integer({ min: 1, max: 1_000_000 }) }),
  );
  const part = (amount: number, share: number) => Math.max(1, Math.floor((amount * share) / 100));

  it('property: debits equal credits per entry; receivable = owed, cash = paid - refunded, revenue + tax = total - credited', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.integer({ min: 0, max: 2_700 }),
        fc.array(op, { maxLength: 12 }),
        (net, rate, ops) => {
          const tax = Math.floor((net * rate) / 10_000);
          const total = net + tax;
          let balance = newInvoiceBalance({ id: 'in_p', currency: 'EUR', total, tax });
          const entries: JournalEntry[] = [taxedInvoiceIssuedEntry({ id: 'in_p', currency: 'EUR', total, tax, issuedAt: '2031-01-01T00:00:00Z' })];
          ops.forEach((o, i) => {
            const id = `op${i}`;
            const at = '2031-01-02T00:00:00Z';
            const owed = amountOwed(balance);
            const result =
              o.kind === 'pay'
                ? applyPayment(balance, { id, amount: part(owed, o.share), method: 'stripe', at })
                : o.kind === 'credit'
                  ? (() => {
                      const amount = part(balance.total - balance.credited - balance.writtenOff, o.share);
                      const refund = Math.min(Math.floor((amount * o.refundShare) / 100), balance.paid - balance.refunded);
                      return issueCreditNote(balance, { id, amount, refund, gateway: 'stripe', reason: 'p', at });
                    })()
                  : o.kind === 'refund'
                    ? refundPayment(balance, { id, amount: part(balance.paid - balance.refunded, o.share), reason: 'p', at, gateway: 'stripe' })
                    : o.kind === 'write_off'
                      ? writeOffInvoice(balance, { id, at })
                      : applyCustomerCredit(balance, { id, available: o.amount, at });
            if (result.ok) {
              balance = result.balance;
              entries.push(...result.entries);
            }
          });

          const sums = new Map<string, number>();
          for (const entry of entries) {
            const debits = entry.lines.reduce((s, l) => s + l.debit, 0);
            const credits = entry.lines.reduce((s, l) => s + l.credit, 0);
            expect(debits).toBe(credits);
            for (const l of entry.lines) sums.set(l.account, (sums.get(l.account) ?? 0) + l.debit - l.credit);
          }
          expect(sums.get('accounts_receivable') ?? 0).toBe(amountOwed(balance));
          expect(amountOwed(balance)).toBeGreaterThanOrEqual(0);
          expect(sums.get('cash:stripe') ?? 0).toBe(balance.paid - balance.refunded);
          // Revenue and tax are credit-normal: their debit-positive sums are negative.
          expect(0 - (sums.get('revenue') ?? 0) - (sums.get('tax_payable') ?? 0)).toBe(total - balance.credited);
          expect(0 - (sums.get('tax_payable') ?? 0)).toBe(tax - balance.taxCredited);
          expect(balance.taxCredited).toBeLessThanOrEqual(tax);
          expect(balance.refunded).toBeLessThanOrEqual(balance.paid);
        },
      ),
    );
  });

  it('keeps the original invoice entry unchanged for untaxed renewals', () => {
    expect(invoiceIssuedEntry({ id: 'in_x', currency: 'USD', total: 9_700, issuedAt: '2031-01-01T00:00:00Z' }).lines).toEqual(
      taxedInvoiceIssuedEntry({ id: 'in_x', currency: 'USD', total: 9_700, tax: 0, issuedAt: '2031-01-01T00:00:00Z' }).lines,
    );
  });
});
