// Payment plans for high-ticket one-time offers: the order's total split into N payments, the
// first due at purchase and each next one a billing interval later (computed from the first
// due date, like billing periods, so month-end dates clamp without drifting).
//
// A payment plan is a debt for something already sold, not a subscription: cancelling access to
// the course does not cancel the remaining installments. Only a credit note (refund) reduces
// what is owed.
import { splitEvenly } from './allocation';
import { periodStart } from './calendar';
import { findInstallmentPlan, type InstallmentPlan } from './catalog';
import type { Currency } from './money';

export interface Installment {
  readonly index: number; // 0-based
  readonly dueAt: string;
  readonly amount: number; // minor units
}

export interface InstallmentSchedule {
  readonly orderId: string;
  readonly planId: string;
  readonly currency: Currency;
  readonly total: number;
  readonly installments: readonly Installment[];
}

export type InstallmentScheduleResult =
  | { readonly ok: true; readonly schedule: InstallmentSchedule }
  | { readonly ok: false; readonly reason: string };

/**
 * Splits the total so that the installments add up to it exactly; where cents do not divide,
 * cumulative rounding decides which installment carries the extra cent
 * ($997.00 in 3 -> $332.33, $332.34, $332.33).
 */
export function buildInstallmentSchedule(args: {
  orderId: string;
  planId: string;
  productId: string;
  currency: Currency;
  total: number;
  firstDueAt: string;
}): InstallmentScheduleResult {
  const plan: InstallmentPlan | undefined = findInstallmentPlan(args.planId);
  if (!plan) return { ok: false, reason: `unknown payment plan '${args.planId}'` };
  if (!plan.productIds.includes(args.productId)) {
    return { ok: false, reason: `payment plan '${plan.id}' is not offered for ${args.productId}; it is for ${plan.productIds.join(', ')}` };
  }
  if (!Number.isSafeInteger(args.total) || args.total < plan.installments) {
    return { ok: false, reason: `a total of ${args.total} minor units cannot be split into ${plan.installments} payments` };
  }
  const amounts = splitEvenly(args.total, plan.installments);
  return {
    ok: true,
    schedule: {
      orderId: args.orderId,
      planId: plan.id,
      currency: args.currency,
      total: args.total,
      installments: amounts.map((amount, index) => ({ index, dueAt: periodStart(args.firstDueAt, plan.interval, index), amount })),
    },
  };
}

/** Deterministic, so a retried workflow step issues the same installment invoice. */
export function installmentInvoiceId(orderId: string, index: number): string {
  return `in_${orderId.replace(/^ord_/, '')}_i${String(index + 1).padStart(2, '0')}`;
}

// Installments are paid in order, so progress is just how many have been paid.

export function nextInstallment(schedule: InstallmentSchedule, paidCount: number): Installment | null {
  return schedule.installments[paidCount] ?? null;
}

export function installmentsStillDue(schedule: InstallmentSchedule, paidCount: number): readonly Installment[] {
  return schedule.installments.slice(paidCount);
}

export function amountStillOwed(schedule: InstallmentSchedule, paidCount: number): number {
  return installmentsStillDue(schedule, paidCount).reduce((s, i) => s + i.amount, 0);
}

export function isPaidInFull(schedule: InstallmentSchedule, paidCount: number): boolean {
  return paidCount >= schedule.installments.length;
}

/**
 * The buyer stops using the course: access ends now, and every unpaid installment stays due on
 * its original date.
 */
export function cancelCourseAccess(
  schedule: InstallmentSchedule,
  paidCount: number,
  at: string,
): { readonly accessEndsAt: string; readonly installmentsStillDue: readonly Installment[]; readonly amountStillOwed: number } {
  return {
    accessEndsAt: at,
    installmentsStillDue: installmentsStillDue(schedule, paidCount),
    amountStillOwed: amountStillOwed(schedule, paidCount),
  };
}
