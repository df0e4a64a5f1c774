// One order of self-paced courses, from price to the last payment: price it (bundle tier, then
// coupon), place it (coupon redemption counted atomically), then collect each payment on its due
// date — once for pay in full, once per installment for a payment plan — and a failed one goes to
// dunning like a renewal (domain/dunning: decline classes, smart or fixed retries within the
// budget, notices, a new card charged at once; the end action leaves the order unpaid). Orders
// placed before that (patched('installment-dunning') false on replay) keep the fixed schedule
// they started with. Access is granted when the first payment succeeds. The
// buyer may cancel access at any time (the cancelAccess update): access ends, but installments
// still due stay due and are charged on their dates. The workflow stays open while the buyer
// holds access, so that cancelAccess always has someone to answer it.
import { ActivityFailure, allHandlersFinished, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import { CHARGE_ACTIVITY, RECORD_ACTIVITY } from './activity-options';
import { attemptSummary, chargeOutcomeEvent, takeDunningStep, withdrawReminders } from './dunning-step';
import type { ChargeInvoiceResult } from '../activities/billing';
import type { PurchaseActivities } from '../activities/purchases';
import {
  dunningPolicyFor,
  type ChargeTrigger,
  type DunningEvent,
  type DunningPolicy,
  type DunningState,
  type DunningStep,
} from '../domain/dunning';
import { findInstallmentPlan, lookupCoursePrice } from '../domain/catalog';
import {
  cancelAccessRejection,
  courseNames,
  PAY_IN_FULL,
  quoteCoursePurchase,
  type AccessStatus,
  type CoursePurchaseQuote,
  type InstallmentStatus,
  type OrderPaymentView,
  type OrderStatus,
  type OrderView,
  type PaymentPlanId,
} from '../domain/course-purchase';
import type { Coupon } from '../domain/discounts';
import { nextRetryAt } from '../domain/dunning-policy';
import type { Invoice } from '../domain/invoice';
import { buildInvoice } from '../domain/invoice-totals';
import { installmentInvoiceId } from '../domain/installments';
import type { Currency } from '../domain/money';
import { cancelAccess, getOrder, orderPaymentMethodUpdated, orderWorkflowId, type CancelAccessRequest } from './purchase-messages';

export interface CoursePurchaseInput {
  readonly orderId: string;
  readonly customerId: string;
  readonly courseIds: readonly string[];
  readonly currency: Currency;
  readonly paymentMethodToken: string;
  /** 'pay_in_full' (default) or an installment plan id such as 'course-3-monthly'. */
  readonly paymentPlan?: PaymentPlanId;
  /** The coupon as the API found it (a snapshot: a later edit of the coupon changes nothing here). */
  readonly coupon?: Coupon | null;
  /** The promotion code that redeemed the coupon, upper-case, when one did. */
  readonly promotionCode?: string | null;
  /** When the order was placed: its prices, coupon expiry and first due date. Defaults to the workflow's start. */
  readonly orderedAt?: string;
  /** How a declined installment is recovered; default: the 'course' policy (smart retries, then unpaid). */
  readonly dunningPolicy?: DunningPolicy;
}


interface InstallmentState {
  readonly index: number;
  readonly dueAt: string;
  readonly amount: number;
  status: InstallmentStatus;
  invoiceId: string | null;
  attempts: number;
  paidAt: string | null;
}

const { placeCourseOrder, ensureOrderGatewayCustomer, issueOrderInvoice, recordOrderProgress, grantCourseAccess, revokeCourseAccess } =
  proxyActivities<PurchaseActivities>(RECORD_ACTIVITY);

const { chargeOrderInvoice } = proxyActivities<PurchaseActivities>(CHARGE_ACTIVITY);

export async function coursePurchaseWorkflow(input: CoursePurchaseInput): Promise<OrderView> {
  const now = () => new Date().toISOString(); // the workflow clock: deterministic on replay
  const orderedAt = input.orderedAt ?? now();
  const paymentPlan = input.paymentPlan ?? PAY_IN_FULL;
  const installmentDunning = patched('installment-dunning');
  const policy = input.dunningPolicy ?? dunningPolicyFor('course');
  const state = {
    status: 'pending' as OrderStatus,
    rejection: null as string | null,
    quote: null as CoursePurchaseQuote | null,
    installments: [] as InstallmentState[],
    access: { status: 'none' as AccessStatus, grantedAt: null as string | null, endedAt: null as string | null, reason: null as string | null },
    paymentMethodToken: input.paymentMethodToken,
    gatewayCustomerId: null as string | null,
    lastPayment: null as OrderPaymentView | null,
    retryAt: null as string | null,
    retryNowRequested: false,
  };

  const view = (): OrderView => {
    const quote = state.quote;
    const paid = state.installments.filter((i) => i.status === 'paid');
    const open = state.installments.filter((i) => i.status !== 'paid');
    const next = state.status === 'unpaid' || state.status === 'rejected' ? undefined : open[0];
    return {
      orderId: input.orderId,
      customerId: input.customerId,
      status: state.status,
      rejection: state.rejection,
      orderedAt,
      courseIds: input.courseIds,
      currency: input.currency,
      paymentPlan,
      pricing: quote && {
        subtotal: quote.totals.subtotal,
        discount: quote.totals.discount,
        discounts: quote.discounts,
        total: quote.totals.total,
        bundleTier: quote.bundleTier,
        couponId: quote.coupon?.id ?? null,
        promotionCode: input.promotionCode ?? null,
        stackingRule: quote.stackingRule,
      },
      installments: state.installments.map((i) => ({ ...i })),
      paidInstallments: paid.length,
      amountPaid: paid.reduce((s, i) => s + i.amount, 0),
      amountStillOwed: open.reduce((s, i) => s + i.amount, 0),
      nextDue: next
        ? { index: next.index, dueAt: next.dueAt, amount: next.amount, retryAt: next.status === 'past_due' ? state.retryAt : null }
        : null,
      access: { ...state.access },
      entitlements: state.access.status === 'granted' && quote ? quote.entitlements : [],
      lastPayment: state.lastPayment,
    };
  };

  setHandler(getOrder, view);
  setHandler(
    cancelAccess,
    async ({ reason }) => {
      const at = now();
      const why = reason ? `canceled by the buyer: ${reason}` : 'canceled by the buyer';
      state.access = { ...state.access, status: 'canceled', endedAt: at, reason: why };
      await revokeCourseAccess({ orderId: input.orderId, at, reason: why });
      return view();
    },
    {
      validator: (_request: CancelAccessRequest) => {
        const rejection = cancelAccessRejection(state.status, state.access.status);
        if (rejection) throw new Error(rejection);
      },
    },
  );
  setHandler(orderPaymentMethodUpdated, ({ token }) => {
    state.paymentMethodToken = token;
    state.retryNowRequested = true;
  });

  const quoted = quoteCoursePurchase({
    orderId: input.orderId,
    courseIds: input.courseIds,
    currency: input.currency,
    at: orderedAt,
    coupon: input.coupon ?? null,
    paymentPlan,
  });
  if (!quoted.ok) return reject(`${quoted.field}: ${quoted.reason}`);
  const { ok: _ok, ...quote } = quoted;
  state.quote = quote;
  state.installments = quote.installments.map((i) => ({ ...i, status: 'scheduled', invoiceId: null, attempts: 0, paidAt: null }));

  const placed = await placeCourseOrder({
    orderId: input.orderId,
    customerId: input.customerId,
    currency: input.currency,
    paymentPlan,
    subtotal: quote.totals.subtotal,
    discount: quote.totals.discount,
    total: quote.totals.total,
    bundleBasisPoints: quote.bundleTier?.basisPoints ?? null,
    couponId: quote.coupon?.id ?? null,
    promotionCode: quote.coupon ? (input.promotionCode ?? null) : null,
    paymentMethodToken: input.paymentMethodToken,
    orderedAt,
    workflowId: orderWorkflowId(input.orderId),
    items: input.courseIds.map((courseId, i) => {
      const lookup = lookupCoursePrice(courseId, input.currency);
      if (!lookup.ok) throw new Error(lookup.reason); // quoted above: cannot happen
      return {
        courseId,
        priceId: lookup.price.priceId,
        catalogVersion: lookup.price.catalogVersion,
        unitAmount: lookup.price.unitAmount,
        discountAmount: quote.lines[i]?.discountAmount ?? 0,
      };
    }),
    installments: quote.installments,
  });
  if (!placed.ok) return reject(placed.reason);
  state.gatewayCustomerId = await ensureOrderGatewayCustomer(input.customerId);

  for (const installment of state.installments) {
    await sleepUntil(installment.dueAt, () => false);
    const invoice = invoiceFor(quote, installment);
    await issueOrderInvoice(invoice);
    installment.invoiceId = invoice.id;
    const paidAt = installment.amount === 0 ? now() : installmentDunning ? await collectWithDunning(invoice, installment) : await collectPayment(invoice, installment);
    if (!paidAt) {
      installment.status = 'unpaid';
      state.status = 'unpaid';
      state.retryAt = null;
      if (state.access.status === 'granted') {
        const at = now();
        state.access = { ...state.access, status: 'revoked', endedAt: at, reason: 'payment plan unpaid' };
        await revokeCourseAccess({ orderId: input.orderId, at, reason: 'payment plan unpaid' });
      }
      await publish(installment);
      break;
    }
    const grant = state.access.status === 'none';
    // Written before the order says so, so a cancelAccess can never revoke before the grant exists.
    if (grant) await grantCourseAccess({ orderId: input.orderId, customerId: input.customerId, courseIds: input.courseIds, grantedAt: paidAt });
    // One step, so a query never sees the payment without its consequences.
    installment.status = 'paid';
    installment.paidAt = paidAt;
    state.retryAt = null;
    if (grant) state.access = { status: 'granted', grantedAt: paidAt, endedAt: null, reason: null };
    state.status = state.installments.every((i) => i.status === 'paid') ? 'paid' : 'active';
    await publish(installment);
  }

  // The order keeps answering cancelAccess for as long as the buyer holds access.
  await condition(() => state.access.status !== 'granted');
  await condition(allHandlersFinished);
  return view();

  function reject(reason: string): OrderView {
    state.status = 'rejected';
    state.rejection = reason;
    return view();
  }

  async function publish(installment: InstallmentState): Promise<void> {
    if (state.status === 'rejected') return;
    await recordOrderProgress({
      orderId: input.orderId,
      status: state.status,
      installment: {
        index: installment.index,
        status: installment.status,
        invoiceId: installment.invoiceId,
        attempts: installment.attempts,
        paidAt: installment.paidAt,
      },
    });
  }

  /**
   * Charges an installment's invoice until paid, retrying on the dunning schedule after a
   * decline (as a renewal would be). Returns when it was paid, or null when the schedule is exhausted.
   */
  async function collectPayment(invoice: Invoice, installment: InstallmentState): Promise<string | null> {
    let attempt = 0;
    let firstFailureAt: string | null = null;
    for (;;) {
      attempt += 1;
      state.retryNowRequested = false;
      const attemptedAt = now();
      const result = await attemptCharge(invoice, installment, attempt, attemptedAt);
      installment.attempts = attempt;
      state.lastPayment = {
        invoiceId: invoice.id,
        installmentIndex: installment.index,
        amount: invoice.total,
        currency: invoice.currency,
        outcome: result.outcome,
        gateway: result.gateway,
        declineCode: result.outcome === 'declined' ? result.declineCode : null,
        at: attemptedAt,
      };
      if (result.outcome === 'succeeded') return attemptedAt;

      firstFailureAt ??= attemptedAt;
      installment.status = 'past_due';
      // Before the first payment there is nothing to be past due on: the order stays pending.
      if (state.status !== 'pending') state.status = 'past_due';
      const retryAt = nextRetryAt(firstFailureAt, attempt);
      state.retryAt = retryAt;
      if (!retryAt) return null;
      await publish(installment);
      await sleepUntil(retryAt, () => state.retryNowRequested);
    }
  }

  /**
   * Charges an installment's invoice; after a decline runs dunning (domain/dunning) until it is
   * paid (returns when) or the policy's end comes (null: the order is then unpaid).
   */
  async function collectWithDunning(invoice: Invoice, installment: InstallmentState): Promise<string | null> {
    let dunning: DunningState | null = null;
    let attempt = 0;
    let trigger: ChargeTrigger = 'initial';
    let retryReason: string | null = null;
    for (;;) {
      attempt += 1;
      state.retryNowRequested = false;
      const attemptedAt = now();
      const retryNumber = (dunning?.automaticRetries ?? 0) + (trigger === 'automatic' ? 1 : 0);
      const result = await attemptCharge(invoice, installment, attempt, attemptedAt, { trigger, retryNumber, retryReason });
      if (result.outcome === 'succeeded' && (dunning === null || result.settledBy === 'credit')) {
        installment.attempts = attempt;
        recordLastPayment(invoice, installment, result, attemptedAt);
        if (dunning !== null) await withdrawReminders(invoice.id);
        return attemptedAt;
      }
      const event = chargeOutcomeEvent(invoice.id, result, attemptedAt, trigger);
      let step: DunningStep;
      ({ dunning, step } = await advanceDunning(invoice, dunning, event, result.gateway));
      // The attempt, its outcome and what dunning makes of it become visible together.
      installment.attempts = attempt;
      recordLastPayment(invoice, installment, result, attemptedAt);
      // Wait for what the step says, until it says "charge now" or dunning is over.
      for (;;) {
        if (step.kind === 'recovered') return attemptedAt;
        if (step.kind === 'end_with_action') return null;
        installment.status = 'past_due';
        // Before the first payment there is nothing to be past due on: the order stays pending.
        if (state.status !== 'pending') state.status = 'past_due';
        state.retryAt = step.kind === 'retry_at' ? step.at : null;
        await publish(installment);
        await sleepUntil(step.kind === 'retry_at' ? step.at : step.until, () => state.retryNowRequested);
        if (state.retryNowRequested) {
          state.retryNowRequested = false;
          ({ dunning, step } = await advanceDunning(invoice, dunning!, { kind: 'payment_method_updated', at: now() }, result.gateway));
        } else if (step.kind === 'ask_for_new_method') {
          ({ dunning, step } = await advanceDunning(invoice, dunning!, { kind: 'deadline_reached', at: now() }, result.gateway));
          continue;
        }
        if (step.kind === 'retry_at' && Date.parse(step.at) <= Date.parse(now())) {
          trigger = step.trigger;
          retryReason = step.reason;
          break; // charge again
        }
      }
    }
  }

  /** One dunning step for an installment (see dunning-step.ts); course access has no grace period to mention. */
  async function advanceDunning(invoice: Invoice, dunning: DunningState | null, event: DunningEvent, gateway: string) {
    const context = {
      policy,
      invoice,
      customerId: input.customerId,
      gateway,
      paymentMethodToken: state.paymentMethodToken,
      productName: courseNames(input.courseIds),
      mentionsAccess: false,
    };
    const t = await takeDunningStep(context, dunning, event);
    return { dunning: t.state, step: t.step };
  }

  function recordLastPayment(invoice: Invoice, installment: InstallmentState, result: ChargeInvoiceResult, attemptedAt: string): void {
    state.lastPayment = { ...attemptSummary(invoice, result, attemptedAt), installmentIndex: installment.index };
  }

  async function attemptCharge(
    invoice: Invoice,
    installment: InstallmentState,
    attempt: number,
    attemptedAt: string,
    retry?: { trigger: ChargeTrigger; retryNumber: number; retryReason: string | null },
  ): Promise<ChargeInvoiceResult> {
    try {
      return await chargeOrderInvoice({
        invoiceId: invoice.id,
        customerId: input.customerId,
        subscriptionId: null,
        attempt,
        amount: invoice.total,
        currency: invoice.currency,
        paymentMethodToken: state.paymentMethodToken,
        gatewayCustomerId: state.gatewayCustomerId,
        description: chargeDescription(installment),
        attemptedAt,
        ...(retry ?? {}),
      });
    } catch (error) {
      // The gateway stayed unreachable through every retry of this attempt: count it as a
      // failed attempt and let the dunning schedule decide when to try again.
      if (error instanceof ActivityFailure) {
        return { outcome: 'declined', gateway: 'stripe', declineCode: 'gateway_unavailable', message: error.message };
      }
      throw error;
    }
  }

  function chargeDescription(installment: InstallmentState): string {
    const count = state.installments.length;
    return count === 1 ? `Order ${input.orderId}` : `Order ${input.orderId}: payment ${installment.index + 1} of ${count}`;
  }

  /** Pay in full: the priced lines. An installment: one line for its share of the order. */
  function invoiceFor(quote: CoursePurchaseQuote, installment: InstallmentState): Invoice {
    const id = installmentInvoiceId(input.orderId, installment.index);
    const common = { id, customerId: input.customerId, currency: input.currency, issuedAt: installment.dueAt, dueAt: installment.dueAt };
    if (paymentPlan === PAY_IN_FULL) return buildInvoice({ ...common, lines: quote.lines });
    const plan = findInstallmentPlan(paymentPlan);
    return buildInvoice({
      ...common,
      lines: [
        {
          description: `${courseNames(input.courseIds)}: payment ${installment.index + 1} of ${state.installments.length} (${plan?.name ?? paymentPlan})`,
          periodStart: null,
          periodEnd: null,
          quantity: 1,
          unitAmount: installment.amount,
          amount: installment.amount,
        },
      ],
    });
  }
}

/** Sleeps on the workflow clock until `instant`, or until `wake` becomes true. */
async function sleepUntil(instant: string, wake: () => boolean): Promise<void> {
  const ms = Date.parse(instant) - Date.now();
  if (ms > 0) await condition(wake, ms);
}
