import fc from 'fast-check';
import {
  applyDisputeEvent,
  disputeFromPayPalEvent,
  disputeFromStripeEvent,
  disputeFromWebhook,
  disputeLostEntry,
  disputeReinstatedEntry,
  DisputeLedgerError,
  type DisputeEvent,
  type DisputeJournalEntry,
  type DisputeRecord,
} from '../../domain/dispute-ledger';

const event = (overrides: Partial<DisputeEvent> = {}): DisputeEvent => ({
  eventId: 'evt_1',
  gateway: 'stripe',
  disputeId: 'dp_1',
  paymentReference: 'pi_1',
  invoiceId: 'in_1',
  status: 'open',
  gatewayStatus: 'needs_response',
  reason: 'fraudulent',
  amount: 9_700,
  currency: 'USD',
  fee: 0,
  occurredAt: '2031-03-01T10:00:00.000Z',
  ...overrides,
});

function applied(result: ReturnType<typeof applyDisputeEvent>) {
  if (!result.applied) throw new Error(`not applied: ${result.reason}`);
  return result;
}

/** Cash moved at the gateway by a list of entries (debit-positive). */
const cashOf = (entries: readonly DisputeJournalEntry[], account = 'cash:stripe') =>
  entries.flatMap((e) => e.lines).reduce((sum, l) => sum + (l.account === account ? l.debit - l.credit : 0), 0);

describe('the ledger entry of a lost dispute', () => {
  it('takes the disputed $97.00 and the $15.00 fee out of cash at Stripe as losses', () => {
    const entry = disputeLostEntry({ disputeId: 'dp_1', invoiceId: 'in_1', gateway: 'stripe', currency: 'USD', amount: 9_700, fee: 1_500, at: '2031-03-20T00:00:00.000Z' });
    expect(entry).toEqual({
      id: 'je_dispute_lost_dp_1',
      kind: 'dispute_lost',
      currency: 'USD',
      occurredAt: '2031-03-20T00:00:00.000Z',
      invoiceId: 'in_1',
      lines: [
        { account: 'dispute_losses', debit: 9_700, credit: 0 },
        { account: 'dispute_fees', debit: 1_500, credit: 0 },
        { account: 'cash:stripe', debit: 0, credit: 11_200 },
      ],
    });
  });

  it('has no fee line when the gateway charges none (PayPal)', () => {
    const entry = disputeLostEntry({ disputeId: 'PP-D-1', invoiceId: null, gateway: 'paypal', currency: 'EUR', amount: 460_000, at: '2031-03-20T00:00:00.000Z' });
    expect(entry.lines).toEqual([
      { account: 'dispute_losses', debit: 460_000, credit: 0 },
      { account: 'cash:paypal', debit: 0, credit: 460_000 },
    ]);
  });

  it('gives the amount back to cash when a lost dispute is reversed; the fee stays lost', () => {
    const entry = disputeReinstatedEntry({ disputeId: 'dp_1', invoiceId: 'in_1', gateway: 'stripe', currency: 'USD', amount: 9_700, at: '2031-04-01T00:00:00.000Z' });
    expect([entry.id, entry.kind, entry.lines]).toEqual([
      'je_dispute_reinstated_dp_1',
      'dispute_reinstated',
      [
        { account: 'cash:stripe', debit: 9_700, credit: 0 },
        { account: 'dispute_losses', debit: 0, credit: 9_700 },
      ],
    ]);
  });

  it('refuses amounts that are not positive whole minor units, and negative fees', () => {
    const base = { disputeId: 'dp_1', invoiceId: 'in_1', gateway: 'stripe' as const, currency: 'USD' as const, at: '2031-03-20T00:00:00.000Z' };
    expect(() => disputeLostEntry({ ...base, amount: 0 })).toThrow(DisputeLedgerError);
    expect(() => disputeLostEntry({ ...base, amount: 97.5 })).toThrow('positive integer of minor units');
    expect(() => disputeLostEntry({ ...base, amount: 9_700, fee: -1 })).toThrow('the fee must be a non-negative integer');
    expect(() => disputeReinstatedEntry({ ...base, amount: -9_700 })).toThrow(DisputeLedgerError);
  });
});

describe('dispute facts from webhooks', () => {
  it("reads Stripe's charge.dispute.closed: lost, $97.00, fee from the balance transactions", () => {
    const payload = {
      id: 'evt_closed',
      type: 'charge.dispute.closed',
      created: 1_900_000_600,
      data: {
        object: {
          id: 'dp_1',
          object: 'dispute',
          amount: 9_700,
          currency: 'usd',
          payment_intent: 'pi_1',
          reason: 'fraudulent',
          status: 'lost',
          balance_transactions: [{ id: 'txn_1', amount: -9_700, fee: 1_500 }],
        },
      },
    };
    expect(disputeFromStripeEvent(payload)).toEqual({
      eventId: 'evt_closed',
      gateway: 'stripe',
      disputeId: 'dp_1',
      paymentReference: 'pi_1',
      invoiceId: null,
      status: 'lost',
      gatewayStatus: 'lost',
      reason: 'fraudulent',
      amount: 9_700,
      currency: 'USD',
      fee: 1_500,
      occurredAt: '2030-03-17T17:56:40.000Z', // 1,900,000,600 s after the epoch
    });
    expect(disputeFromWebhook('stripe', payload)).toEqual(disputeFromStripeEvent(payload));
  });

  it('counts a Stripe dispute won after the fee was returned as won with no fee', () => {
    const payload = {
      id: 'evt_won',
      type: 'charge.dispute.closed',
      created: 1_900_000_000,
      data: {
        object: {
          id: 'dp_2',
          object: 'dispute',
          amount: 9_700,
          currency: 'gbp',
          status: 'won',
          balance_transactions: [
            { amount: -9_700, fee: 1_500 },
            { amount: 9_700, fee: -1_500 },
          ],
        },
      },
    };
    expect(disputeFromStripeEvent(payload)).toMatchObject({ status: 'won', fee: 0, currency: 'GBP' });
    expect(disputeFromStripeEvent({ ...payload, data: { object: { ...payload.data.object, status: 'warning_closed' } } })?.status).toBe('won');
    expect(disputeFromStripeEvent({ ...payload, data: { object: { ...payload.data.object, status: 'under_review' } } })?.status).toBe('open');
  });

  it('ignores events that are not about a dispute', () => {
    expect(disputeFromStripeEvent({ id: 'evt', type: 'payment_intent.succeeded', created: 1, data: { object: { object: 'payment_intent' } } })).toBeNull();
    expect(disputeFromStripeEvent({ id: 'evt', type: 'charge.dispute.created', created: 1, data: { object: { object: 'charge', id: 'ch_1' } } })).toBeNull();
    expect(disputeFromPayPalEvent({ id: 'WH-1', event_type: 'PAYMENT.CAPTURE.COMPLETED', create_time: '2031-01-01T00:00:00Z', resource: {} })).toBeNull();
  });

  it("reads PayPal's CUSTOMER.DISPUTE.RESOLVED in the buyer's favour as lost for what was refunded", () => {
    const payload = {
      id: 'WH-RESOLVED',
      event_type: 'CUSTOMER.DISPUTE.RESOLVED',
      create_time: '2031-05-02T08:30:00.000Z',
      resource: {
        dispute_id: 'PP-D-7',
        reason: 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
        status: 'RESOLVED',
        dispute_amount: { currency_code: 'USD', value: '97.00' },
        dispute_outcome: { outcome_code: 'RESOLVED_BUYER_FAVOUR', amount_refunded: { currency_code: 'USD', value: '48.50' } },
        disputed_transactions: [{ seller_transaction_id: 'CAPTURE-7' }],
      },
    };
    expect(disputeFromPayPalEvent(payload)).toEqual({
      eventId: 'WH-RESOLVED',
      gateway: 'paypal',
      disputeId: 'PP-D-7',
      paymentReference: 'CAPTURE-7',
      invoiceId: null,
      status: 'lost',
      gatewayStatus: 'RESOLVED_BUYER_FAVOUR',
      reason: 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
      amount: 4_850,
      currency: 'USD',
      fee: 0,
      occurredAt: '2031-05-02T08:30:00.000Z',
    });
    const opened = { ...payload, event_type: 'CUSTOMER.DISPUTE.CREATED', resource: { ...payload.resource, status: 'OPEN', dispute_outcome: undefined } };
    expect(disputeFromPayPalEvent(opened)).toMatchObject({ status: 'open', gatewayStatus: 'OPEN', amount: 9_700 });
    const sellerWon = { ...payload, resource: { ...payload.resource, dispute_outcome: { outcome_code: 'RESOLVED_SELLER_FAVOUR' } } };
    expect(disputeFromPayPalEvent(sellerWon)).toMatchObject({ status: 'won', amount: 9_700 });
  });
});

describe('applying dispute events', () => {
  it('books the loss once, when the dispute is first lost, with the fee', () => {
    const opened = applied(applyDisputeEvent(null, event()));
    expect(opened.entries).toEqual([]);
    expect(opened.record).toMatchObject({ status: 'open', openedAt: '2031-03-01T10:00:00.000Z', closedAt: null });

    const lostEvent = event({ eventId: 'evt_2', status: 'lost', gatewayStatus: 'lost', fee: 1_500, occurredAt: '2031-03-20T00:00:00.000Z' });
    const lost = applied(applyDisputeEvent(opened.record, lostEvent));
    expect(lost.entries.map((e) => [e.id, e.lines])).toEqual([
      [
        'je_dispute_lost_dp_1',
        [
          { account: 'dispute_losses', debit: 9_700, credit: 0 },
          { account: 'dispute_fees', debit: 1_500, credit: 0 },
          { account: 'cash:stripe', debit: 0, credit: 11_200 },
        ],
      ],
    ]);
    expect(lost.record).toMatchObject({ status: 'lost', openedAt: '2031-03-01T10:00:00.000Z', closedAt: '2031-03-20T00:00:00.000Z', fee: 1_500 });

    // The same event delivered again: nothing more to book.
    const again = applied(applyDisputeEvent(lost.record, lostEvent));
    expect(again.entries).toEqual([]);
    expect(again.record).toEqual(lost.record);
  });

  it('ignores an older event delivered late: a lost dispute is not reopened by its creation', () => {
    const lost = applied(applyDisputeEvent(null, event({ status: 'lost', occurredAt: '2031-03-20T00:00:00.000Z' })));
    expect(cashOf(lost.entries)).toBe(-9_700);
    expect(lost.record).toMatchObject({ openedAt: '2031-03-20T00:00:00.000Z', closedAt: '2031-03-20T00:00:00.000Z' });
    const late = applyDisputeEvent(lost.record, event({ status: 'open', occurredAt: '2031-03-01T10:00:00.000Z' }));
    // Not reopened; only when it opened is learnt from it.
    expect(late).toEqual({ applied: false, record: { ...lost.record, openedAt: '2031-03-01T10:00:00.000Z' }, reason: 'stale' });
  });

  it('reinstates the cash when a lost dispute is later won', () => {
    const lost = applied(applyDisputeEvent(null, event({ status: 'lost', fee: 1_500, occurredAt: '2031-03-20T00:00:00.000Z' })));
    const won = applied(applyDisputeEvent(lost.record, event({ status: 'won', occurredAt: '2031-04-01T00:00:00.000Z' })));
    expect(won.entries.map((e) => e.id)).toEqual(['je_dispute_reinstated_dp_1']);
    expect(cashOf([...lost.entries, ...won.entries])).toBe(-1_500);
  });

  it('fills the amount and currency from our own payment when the event leaves them out', () => {
    const bare = event({ status: 'lost', amount: null, currency: null, invoiceId: null });
    const result = applied(applyDisputeEvent(null, bare, { invoiceId: 'in_9', amount: 500_000, currency: 'EUR' }));
    expect(result.record).toMatchObject({ invoiceId: 'in_9', amount: 500_000, currency: 'EUR' });
    expect(result.entries[0]).toMatchObject({ currency: 'EUR', invoiceId: 'in_9' });
    expect(cashOf(result.entries)).toBe(-500_000);
  });

  it('says so when a loss cannot be booked, instead of guessing', () => {
    const result = applied(applyDisputeEvent(null, event({ status: 'lost', amount: null, currency: null })));
    expect(result.entries).toEqual([]);
    expect(result.unbooked).toBe('dispute dp_1 was lost but its amount or currency is unknown: the loss is not booked');
  });

  it('ends in the state of the latest event, with the cash booked accordingly, whatever the delivery order', () => {
    const timeline: DisputeEvent[] = [
      event({ eventId: 'e1', status: 'open', gatewayStatus: 'needs_response', occurredAt: '2031-03-01T00:00:00.000Z' }),
      event({ eventId: 'e2', status: 'open', gatewayStatus: 'under_review', occurredAt: '2031-03-05T00:00:00.000Z' }),
      event({ eventId: 'e3', status: 'lost', gatewayStatus: 'lost', fee: 1_500, occurredAt: '2031-03-20T00:00:00.000Z' }),
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(timeline, { minLength: 1 }), fc.boolean(), (delivered, duplicate) => {
        const deliveries = duplicate ? [...delivered, ...delivered] : delivered;
        let record: DisputeRecord | null = null;
        const entries: DisputeJournalEntry[] = [];
        for (const e of deliveries) {
          const result = applyDisputeEvent(record, e);
          record = result.record;
          if (result.applied) entries.push(...result.entries);
        }
        const latest = [...delivered].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt)).at(-1)!;
        expect(record!.status).toBe(latest.status);
        expect(record!.gatewayStatus).toBe(latest.gatewayStatus);
        expect(record!.lastEventAt).toBe(latest.occurredAt);
        // Lost exactly when the last word was lost, booked once however often it was delivered.
        expect(cashOf(entries)).toBe(latest.status === 'lost' ? -11_200 : 0);
      }),
    );
  });
});
