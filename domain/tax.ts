// Sales taxes on digital services, by the customer's country, as data. Tax is computed per
// invoice line, rounded once per line by the project's rule; the invoice's tax total is the sum
// of its lines' tax (never recomputed from the total), so lines and totals can never disagree.
import type { InvoiceLine } from './invoice';
import { roundHalfAwayFromZero } from './money';

export type TaxName = 'VAT' | 'GST';

export interface TaxRate {
  readonly country: string; // ISO 3166-1 alpha-2
  readonly name: TaxName;
  readonly rateBasisPoints: number; // 20% = 2000
  /** A business customer with a tax id accounts for the tax itself (reverse charge). */
  readonly reverseChargeForBusinesses: boolean;
}

// Standard rates for electronically supplied services. Countries not listed are not taxed.
export const TAX_RATES: readonly TaxRate[] = [
  { country: 'GB', name: 'VAT', rateBasisPoints: 2_000, reverseChargeForBusinesses: true },
  { country: 'IE', name: 'VAT', rateBasisPoints: 2_300, reverseChargeForBusinesses: true },
  { country: 'DE', name: 'VAT', rateBasisPoints: 1_900, reverseChargeForBusinesses: true },
  { country: 'FR', name: 'VAT', rateBasisPoints: 2_000, reverseChargeForBusinesses: true },
  { country: 'NL', name: 'VAT', rateBasisPoints: 2_100, reverseChargeForBusinesses: true },
  { country: 'ES', name: 'VAT', rateBasisPoints: 2_100, reverseChargeForBusinesses: true },
  { country: 'IT', name: 'VAT', rateBasisPoints: 2_200, reverseChargeForBusinesses: true },
  { country: 'AU', name: 'GST', rateBasisPoints: 1_000, reverseChargeForBusinesses: true },
  { country: 'NZ', name: 'GST', rateBasisPoints: 1_500, reverseChargeForBusinesses: true },
  { country: 'SG', name: 'GST', rateBasisPoints: 900, reverseChargeForBusinesses: true },
  { country: 'CA', name: 'GST', rateBasisPoints: 500, reverseChargeForBusinesses: true },
];

export interface TaxSettings {
  /** Where the business is established: a domestic business customer pays tax normally. */
  readonly sellerCountry: string;
  /** True when catalog prices already contain tax (common for EUR/GBP consumer pricing). */
  readonly pricesIncludeTax: boolean;
}

export const DEFAULT_TAX_SETTINGS: TaxSettings = { sellerCountry: 'US', pricesIncludeTax: false };

export interface TaxCustomer {
  readonly country: string;
  /** A VAT/GST registration number marks a business customer; its validity is checked elsewhere. */
  readonly vatId?: string | null;
}

export type TaxTreatment =
  | { readonly kind: 'not_taxed'; readonly country: string }
  | {
      readonly kind: 'standard';
      readonly country: string;
      readonly name: TaxName;
      readonly rateBasisPoints: number;
      readonly inclusive: boolean;
      readonly label: string;
    }
  | { readonly kind: 'reverse_charge'; readonly country: string; readonly name: TaxName; readonly vatId: string; readonly label: string };

export function findTaxRate(country: string): TaxRate | undefined {
  return TAX_RATES.find((r) => r.country === country);
}

export function taxTreatmentFor(customer: TaxCustomer, settings: TaxSettings = DEFAULT_TAX_SETTINGS): TaxTreatment {
  const rate = findTaxRate(customer.country);
  if (!rate) return { kind: 'not_taxed', country: customer.country };
  const vatId = customer.vatId?.trim();
  if (vatId && rate.reverseChargeForBusinesses && customer.country !== settings.sellerCountry) {
    return {
      kind: 'reverse_charge',
      country: customer.country,
      name: rate.name,
      vatId,
      label: `Reverse charge: ${rate.name} to be accounted for by the recipient (${vatId})`,
    };
  }
  return {
    kind: 'standard',
    country: customer.country,
    name: rate.name,
    rateBasisPoints: rate.rateBasisPoints,
    inclusive: settings.pricesIncludeTax,
    label: `${rate.name} ${formatRate(rate.rateBasisPoints)} (${customer.country})`,
  };
}

/**
 * Tax on a taxable amount (after discounts), rounded once. Exclusive: amount * rate.
 * Inclusive: the amount already contains the tax, so tax = amount * rate / (1 + rate).
 */
export function taxOnAmount(taxable: number, rateBasisPoints: number, inclusive: boolean): number {
  if (!Number.isSafeInteger(rateBasisPoints) || rateBasisPoints < 0) throw new RangeError(`invalid tax rate ${rateBasisPoints}`);
  return inclusive
    ? roundHalfAwayFromZero(taxable * rateBasisPoints, 10_000 + rateBasisPoints)
    : roundHalfAwayFromZero(taxable * rateBasisPoints, 10_000);
}

/**
 * The line with its tax fields set. Reverse charge and untaxed lines carry zero tax and keep
 * their amount: with tax-inclusive prices a reverse-charged business pays the same figure.
 */
export function applyTax(line: InvoiceLine, treatment: TaxTreatment): InvoiceLine {
  const taxable = line.amount - (line.discountAmount ?? 0);
  switch (treatment.kind) {
    case 'not_taxed':
      return line;
    case 'reverse_charge':
      return { ...line, taxAmount: 0, taxRateBasisPoints: 0, taxInclusive: false, taxLabel: treatment.label, reverseCharge: true };
    case 'standard':
      return {
        ...line,
        taxAmount: taxOnAmount(taxable, treatment.rateBasisPoints, treatment.inclusive),
        taxRateBasisPoints: treatment.rateBasisPoints,
        taxInclusive: treatment.inclusive,
        taxLabel: treatment.label,
      };
  }
}

export function applyTaxToLines(lines: readonly InvoiceLine[], treatment: TaxTreatment): InvoiceLine[] {
  return lines.map((line) => applyTax(line, treatment));
}

/** Display only: 2000 -> "20%", 2150 -> "21.5%". */
export function formatRate(rateBasisPoints: number): string {
  const digits = String(rateBasisPoints).padStart(3, '0');
  const whole = digits.slice(0, -2);
  const fraction = digits.slice(-2).replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}%` : `${whole}%`;
}
