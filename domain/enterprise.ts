// Enterprise training contracts: custom-priced line items (seats or fixed items) over a term,
// invoiced up front or every billing interval of the term, on NET 30 terms: paid by bank
// transfer, possibly in several parts, with reminders before and after the due date. An
// overdue invoice makes the contract past_due.
import { addDays, billingPeriod, monthsIn, periodIndexAt, periodStart, type BillingInterval, type BillingPeriod } from './calendar';
import { amountOwed, type InvoiceBalance } from './credit-notes';
import type { Invoice, InvoiceLine } from './invoice';
import { lineAmount } from './invoice';
import { buildInvoice } from './invoice-totals';
import { money, multiplyRatio, type Currency } from './money';
import { isWithin, splitPeriodDays } from './proration';
import { applyTaxToLines, type TaxTreatment } from './tax';

export const NET_DAYS = 30;

export interface ContractLineItem {
  readonly id: string;
  readonly description: string;
  /** Price of one unit for one invoice period (the whole term when billed up front). */
  readonly unitAmount: number;
  readonly quantity: number;
  readonly unit: 'seat' | 'item';
}

export type ContractBilling = 'upfront' | BillingInterval;

export interface EnterpriseContract {
  readonly id: string;
  readonly customerId: string;
  readonly currency: Currency;
  readonly startsAt: string;
  readonly termMonths: number;
  readonly billing: ContractBilling;
  readonly lineItems: readonly ContractLineItem[];
  /** Days from issue to due date; NET 30 unless the contract says otherwise. */
  readonly netDays?: number;
}

/** Why the contract cannot be invoiced as written, or null. */
export function contractProblem(c: EnterpriseContract): string | null {
  if (!Number.isInteger(c.termMonths) || c.termMonths < 1) return 'the term must be a whole number of months, at least one';
  if (c.billing !== 'upfront' && c.termMonths % monthsIn(c.billing) !== 0) {
    return `a ${c.termMonths}-month term cannot be invoiced per ${c.billing}; use a multiple of ${monthsIn(c.billing)} months`;
  }
  if (c.lineItems.length === 0) return 'a contract needs at least one line item';
  for (const item of c.lineItems) {
    if (!Number.isSafeInteger(item.unitAmount) || item.unitAmount < 0) return `line item ${item.id}: the unit amount must be whole minor units, not negative`;
    if (!Number.isSafeInteger(item.quantity) || item.quantity < 1) return `line item ${item.id}: the quantity must be a positive whole number`;
  }
  if (new Set(c.lineItems.map((i) => i.id)).size !== c.lineItems.length) return 'line item ids must be unique';
  const netDays = c.netDays ?? NET_DAYS;
  if (!Number.isInteger(netDays) || netDays < 0) return 'payment terms must be a whole number of days';
  return null;
}

export function contractTerm(c: EnterpriseContract): { readonly start: string; readonly end: string } {
  return { start: c.startsAt, end: periodStart(c.startsAt, 'month', c.termMonths) };
}

/** The periods each invoice covers: the whole term once, or each interval of it. */
export function contractInvoicePeriods(c: EnterpriseContract): BillingPeriod[] {
  const term = contractTerm(c);
  const billing = c.billing;
  if (billing === 'upfront') return [{ index: 0, start: term.start, end: term.end }];
  const count = c.termMonths / monthsIn(billing);
  return Array.from({ length: count }, (_, i) => billingPeriod(c.startsAt, billing, i));
}

export function contractPeriodAt(c: EnterpriseContract, at: string): BillingPeriod | null {
  if (!isWithin(contractTerm(c), at)) return null;
  if (c.billing === 'upfront') return contractInvoicePeriods(c)[0] ?? null;
  return billingPeriod(c.startsAt, c.billing, periodIndexAt(c.startsAt, c.billing, at));
}

export function netDueDate(issuedAt: string, netDays: number = NET_DAYS): string {
  return addDays(issuedAt, netDays);
}

export function contractInvoiceId(contractId: string, periodIndex: number): string {
  return `in_${contractId.replace(/^ctr_/, '')}_${String(periodIndex).padStart(4, '0')}`;
}

function itemLine(item: ContractLineItem, quantity: number, period: { start: string; end: string }): InvoiceLine {
  const unit = item.unit === 'seat' ? (quantity === 1 ? ' seat' : ' seats') : '';
  return {
    description: item.unit === 'seat' ? `${item.description} (${quantity}${unit})` : item.description,
    periodStart: period.start,
    periodEnd: period.end,
    quantity,
    unitAmount: item.unitAmount,
    amount: lineAmount(quantity, item.unitAmount),
  };
}

/** The invoice for one period of the contract, issued at the period's start, due NET days later. */
export function buildContractInvoice(c: EnterpriseContract, periodIndex: number, tax?: TaxTreatment): Invoice {
  const problem = contractProblem(c);
  if (problem) throw new RangeError(`contract ${c.id}: ${problem}`);
  const period = contractInvoicePeriods(c)[periodIndex];
  if (!period) throw new RangeError(`contract ${c.id} has no invoice period ${periodIndex}`);
  const lines = c.lineItems.map((item) => itemLine(item, item.quantity, period));
  return buildInvoice({
    id: contractInvoiceId(c.id, periodIndex),
    customerId: c.customerId,
    currency: c.currency,
    lines: tax ? applyTaxToLines(lines, tax) : lines,
    issuedAt: period.start,
    dueAt: netDueDate(period.start, c.netDays ?? NET_DAYS),
    periodStart: period.start,
    periodEnd: period.end,
  });
}

// ---- Reminders and status ----

export type ReminderKind = 'due_soon' | 'due_today' | 'overdue' | 'final_notice';

export interface PaymentReminder {
  readonly kind: ReminderKind;
  readonly daysFromDue: number;
  readonly at: string;
}

export const REMINDER_OFFSETS: readonly { readonly kind: ReminderKind; readonly daysFromDue: number }[] = [
  { kind: 'due_soon', daysFromDue: -7 },
  { kind: 'due_today', daysFromDue: 0 },
  { kind: 'overdue', daysFromDue: 7 },
  { kind: 'final_notice', daysFromDue: 14 },
];

export function reminderSchedule(dueAt: string): PaymentReminder[] {
  return REMINDER_OFFSETS.map((r) => ({ ...r, at: addDays(dueAt, r.daysFromDue) }));
}

/** Reminders whose time has come, not yet sent, while something is still owed. */
export function remindersToSend(dueAt: string, balance: InvoiceBalance, sent: readonly ReminderKind[], at: string): PaymentReminder[] {
  if (amountOwed(balance) <= 0) return [];
  return reminderSchedule(dueAt).filter((r) => !sent.includes(r.kind) && Date.parse(r.at) <= Date.parse(at));
}

export type ReceivableStatus = 'paid' | 'uncollectible' | 'overdue' | 'partially_paid' | 'open';

/** Overdue once the due instant has passed with anything still owed. */
export function receivableStatus(balance: InvoiceBalance, dueAt: string, at: string): ReceivableStatus {
  if (amountOwed(balance) <= 0) return balance.writtenOff > 0 ? 'uncollectible' : 'paid';
  if (Date.parse(at) > Date.parse(dueAt)) return 'overdue';
  return balance.paid + balance.creditApplied > 0 ? 'partially_paid' : 'open';
}

/** The contract is past_due while any of its invoices is overdue. */
export function contractStatusAt(invoices: readonly { balance: InvoiceBalance; dueAt: string }[], at: string): 'active' | 'past_due' {
  return invoices.some((i) => receivableStatus(i.balance, i.dueAt, at) === 'overdue') ? 'past_due' : 'active';
}

// ---- Seat changes ----

export type SeatChange =
  | {
      readonly ok: true;
      /** When the new quantity takes effect: now for more seats, the next invoice period for fewer. */
      readonly effectiveAt: string;
      readonly contract: EnterpriseContract;
      /** Prorated charge for added seats over the rest of the current invoice period (empty for fewer). */
      readonly lines: readonly InvoiceLine[];
    }
  | { readonly ok: false; readonly reason: string };

/**
 * More seats apply now and are charged for the rest of the current invoice period, by day:
 * added seats x unit amount x unused days / days in period, rounded once. Fewer seats apply
 * from the next invoice period, with no credit; a contract paid up front keeps its seats to the end.
 */
export function changeSeats(c: EnterpriseContract, request: { lineItemId: string; quantity: number; at: string }): SeatChange {
  const item = c.lineItems.find((i) => i.id === request.lineItemId);
  if (!item) return { ok: false, reason: `contract ${c.id} has no line item ${request.lineItemId}` };
  if (item.unit !== 'seat') return { ok: false, reason: `line item ${item.id} is not priced per seat` };
  if (!Number.isSafeInteger(request.quantity) || request.quantity < 1) return { ok: false, reason: 'the number of seats must be a positive whole number' };
  if (request.quantity === item.quantity) return { ok: false, reason: `line item ${item.id} already has ${item.quantity} seats` };
  const period = contractPeriodAt(c, request.at);
  if (!period) return { ok: false, reason: `contract ${c.id} is not in its term at ${request.at}` };
  const contract = { ...c, lineItems: c.lineItems.map((i) => (i.id === item.id ? { ...i, quantity: request.quantity } : i)) };

  if (request.quantity < item.quantity) {
    if (c.billing === 'upfront') return { ok: false, reason: 'seats on a contract paid up front can be reduced only at renewal' };
    return { ok: true, effectiveAt: period.end, contract, lines: [] };
  }
  const added = request.quantity - item.quantity;
  const split = splitPeriodDays(period, request.at);
  const charge = multiplyRatio(money(lineAmount(added, item.unitAmount), c.currency), split.daysUnused, split.daysInPeriod).amount;
  const lines: InvoiceLine[] =
    charge === 0
      ? []
      : [
          {
            description: `${item.description}: ${added} additional ${added === 1 ? 'seat' : 'seats'} (${split.daysUnused} of ${split.daysInPeriod} days)`,
            periodStart: request.at,
            periodEnd: period.end,
            quantity: 1,
            unitAmount: charge,
            amount: charge,
          },
        ];
  return { ok: true, effectiveAt: request.at, contract, lines };
}
