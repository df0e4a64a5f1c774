// One step of dunning as every collecting workflow takes it (subscription renewals, course
// installments): ask the retry model (an activity, so replay never decides again) when the
// step needs a time, take the step (domain/dunning), withdraw the reminders once the invoice is
// paid, and queue the step's notices in the outbox (one idempotency key each).
import { proxyActivities } from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notifications';
import type { RetryDecisionActivities } from '../activities/retry-decisions';
import type { ChargeInvoiceResult } from '../activities/billing';
import { declineCodeOfOutcome } from '../domain/declines';
import { nextDunningStep, retryRequest, type ChargeTrigger, type DunningEvent, type DunningPolicy, type DunningState, type DunningTransition } from '../domain/dunning';
import type { Invoice } from '../domain/invoice';
import { RECORD_ACTIVITY } from './activity-options';

const { enqueueNotice, cancelPendingNotices } = proxyActivities<NotificationActivities>(RECORD_ACTIVITY);
const { decideRetryTime } = proxyActivities<RetryDecisionActivities>(RECORD_ACTIVITY);

/** The reminders a declined invoice may have waiting; none may reach a customer who has paid. */
export const DUNNING_REMINDER_KINDS = ['payment_failed', 'action_required', 'final_notice'] as const;

export interface DunningStepContext {
  readonly policy: DunningPolicy;
  readonly invoice: Invoice;
  readonly customerId: string;
  /** The gateway of the declined charge and the method the retry will use: the model's features. */
  readonly gateway: string;
  readonly paymentMethodToken: string;
  /** What the notices call the purchase. */
  readonly productName: string;
  /** Whether the notices tell the customer until when access is kept (subscriptions' grace period). */
  readonly mentionsAccess: boolean;
  /** Called with the new state as soon as the step is decided, before its notices go out. */
  readonly onState?: (state: DunningState) => void;
}

export async function takeDunningStep(ctx: DunningStepContext, dunning: DunningState | null, event: DunningEvent): Promise<DunningTransition> {
  const { policy, invoice } = ctx;
  const request = retryRequest(policy, dunning, event);
  const decision = request
    ? await decideRetryTime({
        request,
        invoiceId: invoice.id,
        customerId: ctx.customerId,
        amount: invoice.total,
        gateway: ctx.gateway,
        paymentMethodToken: ctx.paymentMethodToken,
        now: event.at,
      })
    : null;
  const t = nextDunningStep(policy, dunning, event, decision);
  ctx.onState?.(t.state);
  if (t.step.kind === 'recovered') await withdrawReminders(invoice.id);
  for (const n of t.notices) {
    await enqueueNotice({
      idempotencyKey: n.idempotencyKey,
      kind: n.kind,
      customerId: ctx.customerId,
      invoiceId: invoice.id,
      sendAfter: n.at,
      context: {
        productName: ctx.productName,
        invoiceId: invoice.id,
        amount: { amount: invoice.total, currency: invoice.currency },
        nextRetryAt: t.step.kind === 'retry_at' ? t.step.at : null,
        endsAt: t.state.windowEndsAt,
        endAction: policy.endAction,
        ...(t.step.kind === 'ask_for_new_method' ? { customerAction: t.step.customerAction } : {}),
        ...(ctx.mentionsAccess ? { accessUntil: t.state.accessUntil } : {}),
      },
    });
  }
  return t;
}

/** What a charge's result tells dunning. */
export function chargeOutcomeEvent(invoiceId: string, result: ChargeInvoiceResult, at: string, trigger: ChargeTrigger): DunningEvent {
  if (result.outcome === 'succeeded') return { kind: 'charge_succeeded', invoiceId, at, trigger };
  const declineCode = result.outcome === 'declined' ? result.declineCode : declineCodeOfOutcome({ status: 'requires_action' });
  return { kind: 'charge_failed', invoiceId, at, trigger, declineCode };
}

/** What the views show of a charge attempt. */
export function attemptSummary(invoice: Invoice, result: ChargeInvoiceResult, at: string) {
  return {
    invoiceId: invoice.id,
    amount: result.outcome === 'succeeded' ? (result.amount ?? invoice.total) : invoice.total,
    currency: invoice.currency,
    outcome: result.outcome,
    gateway: result.gateway,
    declineCode: result.outcome === 'declined' ? result.declineCode : null,
    at,
  };
}

/** Withdraws the reminders still waiting for an invoice that is now settled. */
export async function withdrawReminders(invoiceId: string): Promise<void> {
  await cancelPendingNotices({ invoiceId, kinds: [...DUNNING_REMINDER_KINDS] });
}
