// A subscription's invoices: coupon, then tax, then carried credit; a negative total carries over.
import fc from 'fast-check';
import { lookupRecurringPrice, type PriceSnapshot } from '../../domain/catalog';
import type { Coupon } from '../../domain/discounts';
import { renewalInvoiceId, type InvoiceLine } from '../../domain/invoice';
import { lineTotal } from '../../domain/invoice-totals';
import { buildSubscriptionInvoice, periodLine, subscriptionInvoiceId, type SubscriptionInvoiceInput } from '../../domain/subscription-invoice';
import { taxTreatmentFor } from '../../domain/tax';

function price(planId: string, currency: 'USD' | 'GBP'): PriceSnapshot {
  const lookup = lookupRecurringPrice(planId, 'month', currency);
  if (!lookup.ok) throw new Error(lookup.reason);
  return lookup.price;
}

const period = { start: '2040-03-01T00:00:00.000Z', end: '2040-04-01T00:00:00.000Z' };
const welcome: Coupon = { id: 'WELCOME20', name: 'Welcome', discount: { kind: 'percent', basisPoints: 2000 }, duration: { kind: 'repeating', periods: 2 } };

function input(over: Partial<SubscriptionInvoiceInput>): SubscriptionInvoiceInput {
  return {
    id: 'in_test_0000',
    subscriptionId: 'sub_test',
    customerId: 'cus_test',
    currency: 'USD',
    issuedAt: period.start,
    period,
    lines: [],
    coupon: null,
    tax: null,
    ...over,
  };
}

const credit = (amount: number): InvoiceLine => ({ description: 'Unused time', periodStart: null, periodEnd: null, quantity: 1, unitAmount: -amount, amount: -amount });

describe('subscription invoice ids', () => {
  it('keeps the first version ids for epoch 0 and makes later anchors and changes distinct', () => {
    expect(subscriptionInvoiceId('sub_abc', { epoch: 0, periodIndex: 3 })).toBe('in_abc_0003');
    expect(subscriptionInvoiceId('sub_abc', { epoch: 0, periodIndex: 3 })).toBe(renewalInvoiceId('sub_abc', 3));
    expect(subscriptionInvoiceId('sub_abc', { epoch: 2, periodIndex: 3 })).toBe('in_abc_e2_0003');
    expect(subscriptionInvoiceId('sub_abc', { change: 1 })).toBe('in_abc_c001');
  });
});

describe('buildSubscriptionInvoice', () => {
  const gbp = price('community', 'GBP');
  const gb = taxTreatmentFor({ country: 'GB' });

  it('applies the coupon first, then VAT on the discounted price', () => {
    // 7900 - 20% (1580) = 6320; VAT 20% of 6320 = 1264; total 7584.
    const { invoice, carryOver } = buildSubscriptionInvoice(
      input({ currency: 'GBP', lines: [periodLine(gbp, 1, period)], coupon: { coupon: welcome, periodsBilled: 0 }, tax: gb }),
    );
    expect(invoice.lines.map((l) => [l.amount, l.discountAmount, l.taxAmount])).toEqual([[7900, 1580, 1264]]);
    expect([invoice.subtotal, invoice.total, carryOver]).toEqual([7900, 7584, null]);
  });

  it('stops discounting once the coupon has covered its periods', () => {
    // Third period of a 2-period coupon: 7900 + VAT 1580 = 9480.
    const { invoice } = buildSubscriptionInvoice(input({ currency: 'GBP', lines: [periodLine(gbp, 1, period)], coupon: { coupon: welcome, periodsBilled: 2 }, tax: gb }));
    expect(invoice.total).toBe(9480);
  });

  it('adds carried credit after tax, so tax is never given back twice', () => {
    // 7900 + VAT 1580 = 9480, less the 1000 already-taxed credit = 8480.
    const { invoice } = buildSubscriptionInvoice(input({ currency: 'GBP', lines: [periodLine(gbp, 1, period)], balance: [credit(1000)], tax: gb }));
    expect(invoice.lines.map((l) => [l.amount, l.taxAmount ?? 0])).toEqual([
      [7900, 1580],
      [-1000, 0],
    ]);
    expect(invoice.total).toBe(8480);
  });

  it('bills proration credits with the period and never discounts them', () => {
    // 9700 - 20% (1940) = 7760, then the 6884 credit for unused time: 876.
    const usd = price('community', 'USD');
    const { invoice } = buildSubscriptionInvoice(input({ lines: [periodLine(usd, 1, period), credit(6884)], coupon: { coupon: welcome, periodsBilled: 0 } }));
    expect(invoice.lines.map((l) => l.discountAmount ?? 0)).toEqual([1940, 0]);
    expect(invoice.total).toBe(876);
  });

  it('nets to zero and carries the rest when credit exceeds the charge', () => {
    // 9700 - 12000 = -2300: the invoice shows +2300 carried, the next one -2300.
    const usd = price('community', 'USD');
    const { invoice, carryOver } = buildSubscriptionInvoice(input({ lines: [periodLine(usd, 1, period), credit(12_000)] }));
    expect(invoice.lines.map((l) => l.amount)).toEqual([9700, -12_000, 2300]);
    expect(invoice.total).toBe(0);
    expect(carryOver).toMatchObject({ description: 'Credit from the previous invoice', amount: -2300, unitAmount: -2300 });
  });

  it('property: the total is the sum of line totals, never negative, and with the carry-over equals what the lines add up to', () => {
    const usd = price('community', 'USD');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 1, max: 500_000 }), { maxLength: 4 }), fc.boolean(), (seats, credits, taxed) => {
        const lines = [periodLine(usd, seats, period), ...credits.map(credit)];
        const { invoice, carryOver } = buildSubscriptionInvoice(input({ lines, tax: taxed ? taxTreatmentFor({ country: 'CA' }) : null }));
        expect(invoice.total).toBe(invoice.lines.reduce((sum, l) => sum + lineTotal(l), 0));
        expect(invoice.total).toBeGreaterThanOrEqual(0);
        const raw = invoice.lines.filter((l) => l.description !== 'Credit carried to the next invoice').reduce((sum, l) => sum + lineTotal(l), 0);
        expect(invoice.total + (carryOver?.amount ?? 0)).toBe(raw);
      }),
    );
  });
});
