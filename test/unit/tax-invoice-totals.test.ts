import fc from 'fast-check';
import { billingPeriod } from '../../domain/calendar';
import { lookupRecurringPrice } from '../../domain/catalog';
import { buildRenewalInvoice, type InvoiceLine } from '../../domain/invoice';
import { buildInvoice, invoiceTotals, lineTotal } from '../../domain/invoice-totals';
import { applyTax, applyTaxToLines, formatRate, taxOnAmount, taxTreatmentFor, TAX_RATES } from '../../domain/tax';

const line = (amount: number, extra: Partial<InvoiceLine> = {}): InvoiceLine => ({
  description: 'Community Access (monthly)',
  periodStart: null,
  periodEnd: null,
  quantity: 1,
  unitAmount: amount,
  amount,
  ...extra,
});

describe('tax treatment', () => {
  it('charges the customer country rate to consumers', () => {
    expect(taxTreatmentFor({ country: 'GB' })).toEqual({
      kind: 'standard',
      country: 'GB',
      name: 'VAT',
      rateBasisPoints: 2_000,
      inclusive: false,
      label: 'VAT 20% (GB)',
    });
    expect(taxTreatmentFor({ country: 'AU' })).toMatchObject({ kind: 'standard', name: 'GST', rateBasisPoints: 1_000, label: 'GST 10% (AU)' });
    expect(taxTreatmentFor({ country: 'US' })).toEqual({ kind: 'not_taxed', country: 'US' });
  });

  it('reverse-charges a foreign business with a VAT id, but taxes a domestic one', () => {
    expect(taxTreatmentFor({ country: 'DE', vatId: 'DE123456789' })).toEqual({
      kind: 'reverse_charge',
      country: 'DE',
      name: 'VAT',
      vatId: 'DE123456789',
      label: 'Reverse charge: VAT to be accounted for by the recipient (DE123456789)',
    });
    expect(taxTreatmentFor({ country: 'GB', vatId: 'GB999' }, { sellerCountry: 'GB', pricesIncludeTax: false })).toMatchObject({ kind: 'standard' });
    expect(taxTreatmentFor({ country: 'DE', vatId: '   ' })).toMatchObject({ kind: 'standard' });
  });

  it('has a rate for every listed country, as data', () => {
    expect(TAX_RATES.map((r) => `${r.country}:${r.name}:${formatRate(r.rateBasisPoints)}`)).toEqual([
      'GB:VAT:20%',
      'IE:VAT:23%',
      'DE:VAT:19%',
      'FR:VAT:20%',
      'NL:VAT:21%',
      'ES:VAT:21%',
      'IT:VAT:22%',
      'AU:GST:10%',
      'NZ:GST:15%',
      'SG:GST:9%',
      'CA:GST:5%',
    ]);
  });

  it('computes exclusive and inclusive tax, rounded once per line', () => {
    // Exclusive: £79 at 20% = 7,900 x 2,000 / 10,000 = 1,580; total 9,480.
    const exclusive = applyTax(line(7_900), taxTreatmentFor({ country: 'GB' }));
    expect(exclusive).toMatchObject({ taxAmount: 1_580, taxRateBasisPoints: 2_000, taxInclusive: false, taxLabel: 'VAT 20% (GB)' });
    expect(lineTotal(exclusive)).toBe(9_480);
    // Inclusive: £79 already contains VAT: 7,900 x 2,000 / 12,000 = 1,316.67 -> 1,317; total stays 7,900.
    const inclusive = applyTax(line(7_900), taxTreatmentFor({ country: 'GB' }, { sellerCountry: 'US', pricesIncludeTax: true }));
    expect(inclusive).toMatchObject({ taxAmount: 1_317, taxInclusive: true });
    expect(lineTotal(inclusive)).toBe(7_900);
    // IE 23% inclusive on €99: 9,900 x 2,300 / 12,300 = 1,851.22 -> 1,851.
    expect(taxOnAmount(9_900, 2_300, true)).toBe(1_851);
  });

  it('reverse charge: no tax, the amount unchanged, the note on the line', () => {
    const reverse = applyTax(line(460_000), taxTreatmentFor({ country: 'FR', vatId: 'FR12345678901' }));
    expect(reverse).toMatchObject({ taxAmount: 0, reverseCharge: true, taxLabel: 'Reverse charge: VAT to be accounted for by the recipient (FR12345678901)' });
    expect(lineTotal(reverse)).toBe(460_000);
  });

  it('shows tax per line and in totals; the totals are sums of the lines', () => {
    // Two lines of 333 at 20%: 66.6 -> 67 each, 134 in total (a single rounding of 666 would say 133).
    const lines = applyTaxToLines([line(333), line(333)], taxTreatmentFor({ country: 'GB' }));
    expect(lines.map((l) => l.taxAmount)).toEqual([67, 67]);
    expect(invoiceTotals(lines)).toEqual({
      subtotal: 666,
      discount: 0,
      tax: 134,
      total: 800,
      taxes: [{ label: 'VAT 20% (GB)', rateBasisPoints: 2_000, inclusive: false, reverseCharge: false, taxable: 666, tax: 134 }],
    });
  });

  it('taxes a proration credit negatively', () => {
    // -6,790 at 20%: -1,358. 350,000 at 20%: 70,000. Net tax 68,642.
    const lines = applyTaxToLines([line(-6_790), line(350_000)], taxTreatmentFor({ country: 'GB' }));
    expect(invoiceTotals(lines)).toMatchObject({ tax: 68_642, total: 343_210 + 68_642 });
  });
});

describe('invoices with discounts and tax', () => {
  it('keeps a plain renewal exactly as before', () => {
    const lookup = lookupRecurringPrice('community', 'month', 'USD');
    if (!lookup.ok) throw new Error(lookup.reason);
    const renewal = buildRenewalInvoice({ subscriptionId: 'sub_abc', customerId: 'cus_x', price: lookup.price, period: billingPeriod('2031-01-31T15:00:00.000Z', 'month', 1) });
    expect(Object.keys(renewal.lines[0]!)).toEqual(['description', 'periodStart', 'periodEnd', 'quantity', 'unitAmount', 'amount']);
    expect(invoiceTotals(renewal.lines)).toMatchObject({ subtotal: renewal.subtotal, total: renewal.total, discount: 0, tax: 0 });
  });

  it('refuses lines whose figures do not hang together', () => {
    const base = { id: 'in_1', customerId: 'cus_1', currency: 'USD' as const, issuedAt: '2031-01-01T00:00:00Z', dueAt: '2031-01-31T00:00:00Z' };
    expect(() => buildInvoice({ ...base, lines: [line(100, { amount: 99 })] })).toThrow('amount 99 != 1 x 100');
    expect(() => buildInvoice({ ...base, lines: [line(100, { discountAmount: 101 })] })).toThrow('discount 101 must be between 0 and the line amount');
  });

  const taxTreatments = fc.constantFrom(
    taxTreatmentFor({ country: 'US' }),
    taxTreatmentFor({ country: 'GB' }),
    taxTreatmentFor({ country: 'IE' }, { sellerCountry: 'US', pricesIncludeTax: true }),
    taxTreatmentFor({ country: 'DE', vatId: 'DE1' }),
    taxTreatmentFor({ country: 'AU' }),
  );
  const draftLine = fc
    .record({ quantity: fc.integer({ min: 1, max: 100 }), unitAmount: fc.integer({ min: -1_000_000, max: 10_000_000 }), discountShare: fc.integer({ min: 0, max: 100 }) })
    .map(({ quantity, unitAmount, discountShare }): InvoiceLine => {
      const amount = quantity * unitAmount;
      return line(unitAmount, { quantity, amount, discountAmount: amount > 0 ? Math.floor((amount * discountShare) / 100) : 0 });
    });

  it('property: invoice totals equal the sum of the lines', () => {
    fc.assert(
      fc.property(fc.array(draftLine, { minLength: 1, maxLength: 12 }), taxTreatments, (drafts, treatment) => {
        const invoice = buildInvoice({
          id: 'in_p',
          customerId: 'cus_p',
          currency: 'EUR',
          lines: applyTaxToLines(drafts, treatment),
          issuedAt: '2031-01-01T00:00:00Z',
          dueAt: '2031-01-31T00:00:00Z',
        });
        const totals = invoiceTotals(invoice.lines);
        expect(invoice.total).toBe(invoice.lines.reduce((s, l) => s + lineTotal(l), 0));
        expect(invoice.subtotal).toBe(invoice.lines.reduce((s, l) => s + l.amount, 0));
        expect(totals.tax).toBe(invoice.lines.reduce((s, l) => s + (l.taxAmount ?? 0), 0));
        expect(totals.taxes.reduce((s, t) => s + t.tax, 0)).toBe(totals.tax);
        const inclusive = invoice.lines.some((l) => l.taxInclusive);
        expect(invoice.total).toBe(totals.subtotal - totals.discount + (inclusive ? 0 : totals.tax));
      }),
    );
  });
});
