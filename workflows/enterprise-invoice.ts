// One enterprise invoice on NET terms, from issue to paid (or void): issue it with its seats and
// tax, remind the customer 7 days before the due date, on it, and 7 and 14 days after it; the
// day after the due date, if anything is still owed, the invoice goes past_due and operators are
// alerted. Payments (bank transfers recorded by staff, or card payments charged through the
// gateway) arrive as a validated update, in as many parts as the customer likes, never more
// than is owed. The workflow completes once the invoice is paid in full or voided.
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { RECORD_ACTIVITY } from './activity-options';
import type { CardPaymentResult, EnterpriseActivities } from '../activities/enterprise';
import { addDays } from '../domain/calendar';
import { amountOwed, applyPayment, newInvoiceBalance, type InvoiceBalance } from '../domain/credit-notes';
import {
  buildContractInvoice,
  NET_DAYS,
  reminderSchedule,
  remindersToSend,
  type EnterpriseContract,
  type PaymentReminder,
} from '../domain/enterprise';
import { invoiceTotals } from '../domain/invoice-totals';
import type { TaxTreatment } from '../domain/tax';
import {
  getEnterpriseInvoice,
  recordPayment,
  voidInvoice,
  type EnterpriseInvoiceStatus,
  type EnterpriseInvoiceView,
  type EnterprisePayment,
  type RecordPaymentRequest,
  type SentReminder,
} from './enterprise-messages';

export interface EnterpriseInvoiceInput {
  readonly contract: EnterpriseContract;
  /** Which invoice period of the contract this invoice bills (0 for a contract billed up front). */
  readonly periodIndex?: number;
  /** How the customer is taxed (domain/tax taxTreatmentFor), decided by the caller; untaxed when absent. */
  readonly tax?: TaxTreatment;
}

/** The invoice goes past due this many days after its due date when anything is still owed. */
export const PAST_DUE_AFTER_DAYS = 1;

/** How far ahead of the workflow's clock a bank transfer's receivedAt may be (clock skew). */
const RECEIVED_AT_TOLERANCE_MS = 5 * 60_000;

const PAYMENT_METHOD_TOKEN = /^pm_\w+$/;

const {
  issueEnterpriseInvoice,
  recordEnterprisePayment,
  recordCollectionStatus,
  sendInvoiceReminder,
  alertInvoicePastDue,
  voidEnterpriseInvoice,
} = proxyActivities<EnterpriseActivities>(RECORD_ACTIVITY);

// A card charge waits on the gateway; retried with the same idempotency key, a bounded number
// of times so that the payer gets an answer (the same reference later reaches the same charge).
const { chargeEnterpriseCard } = proxyActivities<EnterpriseActivities>({
  startToCloseTimeout: '45 seconds',
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 },
});

type ScheduledEvent =
  | { readonly type: 'reminder'; readonly at: string; readonly reminder: PaymentReminder }
  | { readonly type: 'past_due'; readonly at: string };

export async function enterpriseInvoiceWorkflow(input: EnterpriseInvoiceInput): Promise<EnterpriseInvoiceView> {
  const now = () => new Date().toISOString(); // the workflow clock: deterministic on replay
  const contract = input.contract;
  const invoice = buildContractInvoice(contract, input.periodIndex ?? 0, input.tax);
  const tax = invoiceTotals(invoice.lines).tax;
  const schedule = reminderSchedule(invoice.dueAt);
  const pastDueAt = addDays(invoice.dueAt, PAST_DUE_AFTER_DAYS);

  const state = {
    status: 'draft' as EnterpriseInvoiceStatus,
    number: null as string | null,
    issuing: false,
    balance: newInvoiceBalance({ id: invoice.id, currency: invoice.currency, total: invoice.total, tax }) as InvoiceBalance,
    payments: [] as EnterprisePayment[],
    remindersSent: [] as SentReminder[],
    pastDueAt: null as string | null,
    paidAt: null as string | null,
    voidedAt: null as string | null,
    voidReason: null as string | null,
    voiding: false,
    /** Payments accepted but not yet booked: counted as paid when deciding what may still be taken. */
    reserved: 0,
    inFlightReferences: new Set<string>(),
    /** References of refused card payments: the gateway keeps answering them with the refusal. */
    refusedCardReferences: new Set<string>(),
    paymentSequence: 0,
  };
  const settled = () => state.status === 'paid' || state.status === 'void';

  const view = (): EnterpriseInvoiceView => ({
    invoiceId: invoice.id,
    contractId: contract.id,
    customerId: contract.customerId,
    number: state.number,
    status: state.status,
    currency: invoice.currency,
    lines: invoice.lines,
    subtotal: invoice.subtotal,
    tax,
    total: invoice.total,
    amountPaid: state.balance.paid,
    amountDue: state.status === 'void' ? 0 : amountOwed(state.balance),
    issuedAt: invoice.issuedAt,
    dueAt: invoice.dueAt,
    reminderSchedule: schedule,
    remindersSent: state.remindersSent,
    payments: state.payments,
    pastDueAt: state.pastDueAt,
    paidAt: state.paidAt,
    voidedAt: state.voidedAt,
    voidReason: state.voidReason,
  });

  const sameRecordedPayment = (request: RecordPaymentRequest): EnterprisePayment | undefined =>
    state.payments.find((p) => p.reference === request.reference);

  /** Why this payment cannot be taken now, or null. A repeat of a recorded payment is fine. */
  const paymentRejection = (request: RecordPaymentRequest): string | null => {
    const recorded = sameRecordedPayment(request);
    if (recorded) {
      return recorded.amount === request.amount && recorded.method === request.method
        ? null
        : `reference ${request.reference} was already used for a payment of ${recorded.amount} by ${recorded.method.replace('_', ' ')}`;
    }
    if (state.status === 'draft') return `invoice ${invoice.id} is not issued yet`;
    if (state.status === 'void' || state.voiding) return `invoice ${invoice.id} is void`;
    if (state.status === 'paid') return `invoice ${invoice.id} is already paid`;
    if (typeof request.reference !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,99}$/.test(request.reference)) {
      return 'the reference must be 1-100 printable characters';
    }
    if (state.inFlightReferences.has(request.reference)) return `a payment with reference ${request.reference} is being processed`;
    if (state.refusedCardReferences.has(request.reference)) {
      return `reference ${request.reference} was used for a refused card payment; use a new reference for a new attempt`;
    }
    if (request.method !== 'bank_transfer' && request.method !== 'card') return `unknown payment method ${String(request.method)}`;
    if (request.method === 'card' && !PAYMENT_METHOD_TOKEN.test(request.paymentMethodToken ?? '')) {
      return 'a card payment needs a payment method token (pm_...)';
    }
    if (request.method === 'bank_transfer' && request.paymentMethodToken !== undefined) {
      return 'a bank transfer takes no payment method token';
    }
    if (request.receivedAt !== undefined) {
      if (request.method === 'card') return 'a card payment is received when it is charged; receivedAt is only for bank transfers';
      const received = Date.parse(request.receivedAt);
      if (Number.isNaN(received)) return 'receivedAt is not a valid instant';
      if (received > Date.now() + RECEIVED_AT_TOLERANCE_MS) return 'receivedAt is in the future';
    }
    // What may still be taken: the balance with the payments being booked counted as paid.
    const decision = applyPayment(
      { ...state.balance, paid: state.balance.paid + state.reserved },
      { id: 'check', amount: request.amount, method: request.method, at: now() },
    );
    return decision.ok ? null : decision.reason;
  };

  setHandler(getEnterpriseInvoice, view);

  setHandler(
    recordPayment,
    async (request) => {
      if (sameRecordedPayment(request)) return view(); // the same payment again: already booked
      const rejection = paymentRejection(request);
      if (rejection) throw ApplicationFailure.nonRetryable(rejection, 'PaymentRejected');
      state.paymentSequence += 1;
      const sequence = state.paymentSequence;
      const paymentId = `${invoice.id}:payment-${sequence}`;
      state.reserved += request.amount;
      state.inFlightReferences.add(request.reference);
      try {
        let gateway: string | null = null;
        let gatewayReference: string | null = null;
        let receivedAt = request.receivedAt ? new Date(request.receivedAt).toISOString() : now();
        if (request.method === 'card') {
          const charge = await chargeCard(request, paymentId, sequence);
          if (charge.outcome !== 'succeeded') {
            state.refusedCardReferences.add(request.reference);
            const why = charge.outcome === 'declined' ? `declined (${charge.declineCode}): ${charge.message}` : 'requires the cardholder to authenticate it';
            throw ApplicationFailure.nonRetryable(`card payment ${why}`, 'PaymentRejected');
          }
          gateway = charge.gateway;
          gatewayReference = charge.reference;
          receivedAt = now();
        }
        await recordEnterprisePayment({
          paymentId,
          invoiceId: invoice.id,
          reference: request.reference,
          method: request.method,
          amount: request.amount,
          currency: invoice.currency,
          receivedAt,
          gateway,
          gatewayReference,
        });
        const applied = applyPayment(state.balance, { id: paymentId, amount: request.amount, method: request.method, at: receivedAt });
        if (!applied.ok) throw new Error(`booked payment ${paymentId} does not apply: ${applied.reason}`); // cannot happen: reserved
        state.balance = applied.balance;
        state.payments.push({ paymentId, reference: request.reference, method: request.method, amount: request.amount, receivedAt, gatewayReference });
        if (applied.amountOwed === 0) {
          state.status = 'paid';
          state.paidAt = receivedAt;
        } else if (state.status === 'open') {
          state.status = 'partially_paid';
        }
        return view();
      } finally {
        state.reserved -= request.amount;
        state.inFlightReferences.delete(request.reference);
      }
    },
    {
      validator: (request) => {
        const rejection = paymentRejection(request);
        if (rejection) throw new Error(rejection);
      },
    },
  );

  const voidRejection = (reason: string): string | null => {
    if (state.status === 'void' || state.voiding) return `invoice ${invoice.id} is already void`;
    if (state.status === 'paid') return `invoice ${invoice.id} is paid; issue a credit note instead`;
    if (state.balance.paid > 0 || state.reserved > 0) {
      return `invoice ${invoice.id} has payments (${state.balance.paid + state.reserved} received); issue a credit note instead`;
    }
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500) return 'a reason of 1-500 characters is required';
    return null;
  };

  setHandler(
    voidInvoice,
    async ({ reason }) => {
      const rejection = voidRejection(reason);
      if (rejection) throw ApplicationFailure.nonRetryable(rejection, 'VoidRejected');
      state.voiding = true;
      await condition(() => !state.issuing); // an issue in progress finishes first, then is voided
      const at = now();
      if (state.number !== null) await voidEnterpriseInvoice({ invoiceId: invoice.id, reason, at });
      state.status = 'void';
      state.voidedAt = at;
      state.voidReason = reason;
      state.voiding = false;
      return view();
    },
    {
      validator: ({ reason }) => {
        const rejection = voidRejection(reason);
        if (rejection) throw new Error(rejection);
      },
    },
  );

  // A contract invoiced per period issues each invoice at its period's start.
  await sleepUntil(invoice.issuedAt, () => state.status === 'void' || state.voiding);
  if (!state.voiding && state.status !== 'void') {
    state.issuing = true;
    const { number } = await issueEnterpriseInvoice({
      invoice,
      tax,
      contractId: contract.id,
      workflowId: workflowInfo().workflowId,
      termMonths: contract.termMonths,
      netDays: contract.netDays ?? NET_DAYS,
      taxCountry: input.tax?.country ?? null,
      units: contract.lineItems.map((item) => item.unit),
    });
    state.number = number;
    state.status = 'open';
    state.issuing = false;

    const events: ScheduledEvent[] = [
      ...schedule.map((reminder) => ({ type: 'reminder' as const, at: reminder.at, reminder })),
      { type: 'past_due' as const, at: pastDueAt },
    ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));

    for (const event of events) {
      await sleepUntil(event.at, settled);
      // A payment or void being booked right now decides whether anything is still owed.
      await condition(() => state.inFlightReferences.size === 0 && !state.voiding);
      if (settled()) break;
      if (event.type === 'past_due') {
        state.status = 'past_due';
        state.pastDueAt = event.at;
        await recordCollectionStatus({ invoiceId: invoice.id, status: 'past_due', at: event.at });
        await alertInvoicePastDue({ invoiceId: invoice.id, amountDue: amountOwed(state.balance), at: event.at });
        continue;
      }
      const due = remindersToSend(invoice.dueAt, state.balance, state.remindersSent.map((r) => r.kind), now());
      for (const reminder of due) {
        await sendInvoiceReminder({ invoiceId: invoice.id, reminder, amountDue: amountOwed(state.balance) });
        state.remindersSent.push({ kind: reminder.kind, at: reminder.at });
      }
    }
  }

  await condition(settled);
  await condition(allHandlersFinished);
  return view();

  async function chargeCard(request: RecordPaymentRequest, paymentId: string, sequence: number): Promise<CardPaymentResult> {
    try {
      return await chargeEnterpriseCard({
        invoiceId: invoice.id,
        customerId: contract.customerId,
        paymentId,
        reference: request.reference,
        sequence,
        amount: request.amount,
        currency: invoice.currency,
        paymentMethodToken: request.paymentMethodToken!,
        description: `Invoice ${state.number ?? invoice.id}`,
      });
    } catch (error) {
      if (error instanceof ActivityFailure) {
        throw ApplicationFailure.nonRetryable(
          `the card gateway did not answer; nothing was booked. Retry with the same reference (${request.reference}) to reach the same charge`,
          'GatewayUnavailable',
        );
      }
      throw error;
    }
  }
}

/** Sleeps on the workflow clock until `instant`, or until `wake` becomes true. */
async function sleepUntil(instant: string, wake: () => boolean): Promise<void> {
  const ms = Date.parse(instant) - Date.now();
  if (ms > 0) await condition(wake, ms);
}
