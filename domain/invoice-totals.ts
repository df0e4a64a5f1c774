// How an invoice line's optional discount and tax add up, and an invoice built from such lines.
//   line total = amount - discountAmount + taxAmount   when tax is exclusive
//   line total = amount - discountAmount               when tax is inclusive (already inside)
//   invoice subtotal = sum of line amounts (list price x quantity, before discounts)
//   invoice total    = sum of line totals
// Totals are only ever sums of line figures, so an invoice's totals equal the sum of its lines.
import type { Invoice, InvoiceLine } from './invoice';
import { lineAmount } from './invoice';
import type { Currency } from './money';

export function lineTotal(line: InvoiceLine): number {
  const discounted = line.amount - (line.discountAmount ?? 0);
  return line.taxInclusive ? discounted : discounted + (line.taxAmount ?? 0);
}

export interface TaxSummary {
  readonly label: string;
  readonly rateBasisPoints: number;
  readonly inclusive: boolean;
  readonly reverseCharge: boolean;
  /** Discounted line amounts under this label (tax included when inclusive). */
  readonly taxable: number;
  readonly tax: number;
}

export interface InvoiceTotals {
  readonly subtotal: number;
  readonly discount: number;
  readonly tax: number;
  readonly total: number;
  /** One entry per distinct tax label, in order of first appearance, for the totals block. */
  readonly taxes: readonly TaxSummary[];
}

export function invoiceTotals(lines: readonly InvoiceLine[]): InvoiceTotals {
  const taxes = new Map<string, TaxSummary>();
  let subtotal = 0;
  let discount = 0;
  let tax = 0;
  let total = 0;
  for (const line of lines) {
    subtotal += line.amount;
    discount += line.discountAmount ?? 0;
    tax += line.taxAmount ?? 0;
    total += lineTotal(line);
    if (line.taxLabel !== undefined) {
      const previous = taxes.get(line.taxLabel);
      taxes.set(line.taxLabel, {
        label: line.taxLabel,
        rateBasisPoints: line.taxRateBasisPoints ?? 0,
        inclusive: line.taxInclusive ?? false,
        reverseCharge: line.reverseCharge ?? false,
        taxable: (previous?.taxable ?? 0) + line.amount - (line.discountAmount ?? 0),
        tax: (previous?.tax ?? 0) + (line.taxAmount ?? 0),
      });
    }
  }
  return { subtotal, discount, tax, total, taxes: [...taxes.values()] };
}

/** Refuses lines whose figures do not hang together; these are programming errors, not business outcomes. */
export function assertLineConsistent(line: InvoiceLine): InvoiceLine {
  if (!Number.isSafeInteger(line.quantity) || line.quantity < 1) throw new RangeError(`line '${line.description}': quantity must be a positive integer`);
  if (line.amount !== lineAmount(line.quantity, line.unitAmount)) {
    throw new RangeError(`line '${line.description}': amount ${line.amount} != ${line.quantity} x ${line.unitAmount}`);
  }
  const discount = line.discountAmount ?? 0;
  if (!Number.isSafeInteger(discount) || discount < 0 || discount > Math.max(0, line.amount)) {
    throw new RangeError(`line '${line.description}': discount ${discount} must be between 0 and the line amount`);
  }
  if (line.taxAmount !== undefined && !Number.isSafeInteger(line.taxAmount)) {
    throw new RangeError(`line '${line.description}': tax must be an integer number of minor units`);
  }
  return line;
}

export interface InvoiceDraft {
  readonly id: string;
  readonly customerId: string;
  readonly subscriptionId?: string | null;
  readonly currency: Currency;
  readonly lines: readonly InvoiceLine[];
  readonly issuedAt: string;
  readonly dueAt: string;
  readonly periodStart?: string | null;
  readonly periodEnd?: string | null;
}

/** An Invoice (the shape persisted and charged) from lines that may carry discounts and tax. */
export function buildInvoice(draft: InvoiceDraft): Invoice {
  const lines = draft.lines.map(assertLineConsistent);
  const totals = invoiceTotals(lines);
  return {
    id: draft.id,
    customerId: draft.customerId,
    subscriptionId: draft.subscriptionId ?? null,
    currency: draft.currency,
    lines,
    subtotal: totals.subtotal,
    total: totals.total,
    issuedAt: draft.issuedAt,
    dueAt: draft.dueAt,
    periodStart: draft.periodStart ?? null,
    periodEnd: draft.periodEnd ?? null,
  };
}
