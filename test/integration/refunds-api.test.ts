// Refunds and credit notes over HTTP against the real service: invoices paid by the subscription
// workflow (Temporal dev server + worker) through the Stripe simulator (validated by stripe-mock)
// or, after a decline, the PayPal sandbox; refunds through the refund routes, back to the gateway
// that took the money; every cent checked in PostgreSQL's ledger and at the gateway peers, and
// the whole ledger reconciled at the end.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import pino from 'pino';
import { sql } from 'slonik';
import Stripe from 'stripe';
import { z } from 'zod';
import { authenticated } from '../../api/auth';
import { ApiError, errorHandler } from '../../api/errors';
import { refundRoutes, resumePendingRefunds } from '../../api/routes/refunds';
import { findDispute, listInvoiceDisputes, recordDisputeEvent } from '../../db/disputes';
import { recordInvoicePayment, recordIssuedEnterpriseInvoice, type IssuedEnterpriseInvoice } from '../../db/enterprise';
import { accountBalances } from '../../db/ledger';
import { listAttemptsForInvoices, recordAttemptOutcome, recordAttemptStarted } from '../../db/payments';
import { formatReconcileReport, reconcileLedgerSnapshot } from '../../db/reconcile';
import { disputeFromWebhook } from '../../domain/dispute-ledger';
import { buildContractInvoice, type EnterpriseContract } from '../../domain/enterprise';
import { invoiceTotals } from '../../domain/invoice-totals';
import { taxTreatmentFor } from '../../domain/tax';
import type { Gateway } from '../../gateways/gateway';
import { createPayPalGateway } from '../../gateways/paypal';
import { createStripeGateway } from '../../gateways/stripe';
import { createTestCustomer, waitFor } from '../support/environment';
import { request, startStack, type Stack } from '../support/stack';

const STRIPE_KEY = 'sk_test_integration';
const ELITE_MONTHLY_USD = 500_000;

let stack: Stack;
let stripe: Gateway;
let paypal: Gateway;
let server: Server;
let refundsUrl: string;
let apiKey: string;
const subscriptions: string[] = [];

/** The API as createApp composes it, with the refund routes mounted (see the report for app.ts). */
function refundsApp(gateways: readonly Gateway[]): express.Express {
  const app = express();
  app.use((_req, res, next) => {
    res.locals.requestId = randomUUID();
    next();
  });
  app.use(express.json({ limit: '32kb', strict: true }));
  app.use('/v1', authenticated(stack.pool));
  app.use(refundRoutes(stack.pool, gateways));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(pino({ level: 'silent' })));
  return app;
}

beforeAll(async () => {
  stack = await startStack();
  stripe = createStripeGateway({ apiKey: STRIPE_KEY, host: '127.0.0.1', port: stack.simulator.port, protocol: 'http' });
  paypal = createPayPalGateway({ clientId: stack.paypal.clientId, clientSecret: stack.paypal.clientSecret, baseUrl: stack.paypal.url });
  server = await new Promise((resolve) => {
    const s = refundsApp([stripe, paypal]).listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  refundsUrl = `http://127.0.0.1:${address.port}`;
  apiKey = await stack.apiKey();
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  for (const id of subscriptions) await request(stack.baseUrl, 'POST', `/v1/subscriptions/${id}/cancel`, { apiKey, body: { when: 'now' } }).catch(() => undefined);
  await stack?.close();
});

const api = (method: string, path: string, body?: unknown) => request(stack.baseUrl, method, path, { apiKey, body });
const refunds = (method: string, path: string, options: { body?: unknown; key?: string; apiKey?: string } = {}) =>
  request(refundsUrl, method, path, {
    apiKey: options.apiKey ?? apiKey,
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.key ? { headers: { 'Idempotency-Key': options.key } } : {}),
  });

interface PaidInvoice {
  readonly invoiceId: string;
  readonly subscriptionId: string;
  /** The PaymentIntent (Stripe) or capture (PayPal) that paid it. */
  readonly paymentReference: string;
}

/** A customer (US: no tax) subscribed to Elite monthly; the subscription workflow charges it. */
async function subscribe(paymentMethod: string, backup?: string): Promise<string> {
  const customer = await api('POST', '/v1/customers', { email: `refunds-${randomUUID()}@example.com`, name: 'Refund Customer', country: 'US' });
  expect(customer.status).toBe(201);
  if (backup) {
    const saved = await api('POST', `/v1/customers/${customer.body.id}/payment-methods`, { gateway: 'paypal', token: backup, role: 'backup' });
    expect(saved.status).toBe(201);
  }
  const created = await api('POST', '/v1/subscriptions', { customerId: customer.body.id, plan: 'elite', interval: 'month', paymentMethod });
  expect(created.status).toBe(201);
  subscriptions.push(created.body.subscriptionId);
  return created.body.subscriptionId;
}

async function paidInvoice(options: { paypal?: boolean } = {}): Promise<PaidInvoice> {
  const subscriptionId = options.paypal
    ? await subscribe('pm_card_chargeDeclinedLostCard', `pp_vault_success_${randomUUID().slice(0, 8)}`)
    : await subscribe('pm_card_visa');
  const view = await waitFor(async () => {
    const v = (await api('GET', `/v1/subscriptions/${subscriptionId}`)).body;
    return v.status === 'active' ? v : null;
  }, 'the first payment');
  expect(view.lastPayment).toMatchObject({ outcome: 'succeeded', amount: ELITE_MONTHLY_USD, gateway: options.paypal ? 'paypal' : 'stripe' });
  const invoiceId: string = view.lastPayment.invoiceId;
  const paid = (await listAttemptsForInvoices(stack.pool, [invoiceId])).find((a) => a.outcome === 'succeeded');
  return { invoiceId, subscriptionId, paymentReference: paid!.gateway_reference! };
}

/** [account, debit, credit] of one ledger entry, in posting order. */
async function entryLines(entryId: string): Promise<[string, number, number][]> {
  const rows = await stack.pool.any(sql.type(z.object({ account: z.string(), debit: z.number(), credit: z.number() }))`
    SELECT account, debit, credit FROM ledger_lines WHERE entry_id = ${entryId} ORDER BY position`);
  return rows.map((r) => [r.account, r.debit, r.credit]);
}

/** What a refused request must not have written. */
async function footprint(invoiceId: string, key: string) {
  const count = z.object({ n: z.number() });
  return {
    creditNotes: await stack.pool.oneFirst(sql.type(count)`SELECT count(*)::int8 AS n FROM credit_notes WHERE invoice_id = ${invoiceId}`),
    ledgerEntries: await stack.pool.oneFirst(sql.type(count)`SELECT count(*)::int8 AS n FROM ledger_entries WHERE invoice_id = ${invoiceId}`),
    idempotencyKeys: await stack.pool.oneFirst(sql.type(count)`SELECT count(*)::int8 AS n FROM api_idempotency_keys WHERE key = ${key}`),
    stripeRefunds: stack.simulator.refunds().length,
    paypalRefunds: stack.paypal.refunds().length,
  };
}

const stripeRefundsOf = (paymentIntent: string) => stack.simulator.refunds().filter((r) => r.paymentIntent === paymentIntent);

describe('refunds of a paid invoice', () => {
  it('refunds a Stripe-paid invoice in full: credit note succeeded, exact ledger lines, invoice refunded', async () => {
    const { invoiceId, paymentReference } = await paidInvoice();
    const before = await refunds('GET', `/v1/invoices/${invoiceId}/credit-notes`);
    expect(before.status).toBe(200);
    expect(before.body).toEqual({
      invoice: expect.objectContaining({ invoiceId, status: 'paid', total: 500_000, amountPaid: 500_000, amountRefunded: 0, refundable: 500_000, refundStatus: 'not_refunded' }),
      data: [],
    });

    const refunded = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'requested_by_customer' }, key: `full-${invoiceId}` });
    expect(refunded.status).toBe(201);
    const note = refunded.body;
    expect(note).toMatchObject({
      invoiceId,
      kind: 'refund',
      status: 'succeeded',
      reason: 'requested_by_customer',
      currency: 'USD',
      amount: 500_000,
      tax: 0,
      settlement: { reducedAmountDue: 0, refunded: 500_000, creditedToBalance: 0 },
      refund: { gateway: 'stripe', paymentReference },
      failure: null,
      invoice: {
        invoiceId,
        status: 'paid',
        total: 500_000,
        amountPaid: 500_000,
        amountCredited: 500_000,
        amountRefunded: 500_000,
        amountDue: 0,
        refundable: 0,
        refundStatus: 'refunded',
      },
    });
    expect(note.id).toMatch(/^cn_[a-z0-9]{24}$/);
    expect(note.number).toMatch(/^DB-CN-\d{6}$/);
    expect(note.refund.reference).toMatch(/^re_/);

    // Stripe paid back exactly once, under the credit note's id.
    expect(stripeRefundsOf(paymentReference).map((r) => [r.id, r.amount, r.currency, r.idempotencyKey])).toEqual([
      [note.refund.reference, 500_000, 'usd', note.id],
    ]);
    expect(await entryLines(`je_credit_note_${note.id}`)).toEqual([
      ['revenue', 500_000, 0],
      ['accounts_receivable', 0, 500_000],
    ]);
    expect(await entryLines(`je_refund_${note.id}`)).toEqual([
      ['accounts_receivable', 500_000, 0],
      ['cash:stripe', 0, 500_000],
    ]);
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: 0 },
      { account: 'revenue', balance: 0 },
    ]);

    const again = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'duplicate' } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ type: 'nothing_to_refund', message: `invoice ${invoiceId} has nothing left to refund` });
    const listed = await refunds('GET', `/v1/invoices/${invoiceId}/credit-notes`);
    expect(listed.body.data.map((n: { id: string; status: string }) => [n.id, n.status])).toEqual([[note.id, 'succeeded']]);
    // The invoice itself stays paid: the sale happened, the money went back.
    expect((await api('GET', `/v1/invoices/${invoiceId}`)).body.status).toBe('paid');
  });

  it('refunds 12,345 cents twice under different keys: two notes, numbered in turn, refundable shrinks exactly', async () => {
    const { invoiceId, paymentReference } = await paidInvoice();
    const first = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 12_345, reason: 'service_not_delivered' }, key: `part-1-${invoiceId}` });
    expect(first.status).toBe(201);
    expect(first.body.invoice).toMatchObject({ amountRefunded: 12_345, refundable: 487_655, refundStatus: 'partially_refunded' });
    const second = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 12_345, reason: 'service_not_delivered' }, key: `part-2-${invoiceId}` });
    expect(second.status).toBe(201);
    expect(second.body.invoice).toMatchObject({ amountCredited: 24_690, amountRefunded: 24_690, refundable: 475_310, refundStatus: 'partially_refunded' });
    expect(second.body.id).not.toBe(first.body.id);
    const serial = (number: string) => Number(number.slice('DB-CN-'.length));
    expect(serial(second.body.number)).toBe(serial(first.body.number) + 1);

    expect(stripeRefundsOf(paymentReference).map((r) => [r.amount, r.idempotencyKey])).toEqual([
      [12_345, first.body.id],
      [12_345, second.body.id],
    ]);
    // Stripe's reason vocabulary has no "service not delivered": sent as requested_by_customer,
    // the exact reason in metadata.
    expect(await entryLines(`je_refund_${second.body.id}`)).toEqual([
      ['accounts_receivable', 12_345, 0],
      ['cash:stripe', 0, 12_345],
    ]);
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: 475_310 },
      { account: 'revenue', balance: -475_310 },
    ]);
  });

  it('answers the same Idempotency-Key with the same refund and refunds once; a lost gateway answer is resumed by a retry', async () => {
    const { invoiceId, paymentReference } = await paidInvoice();
    const key = `refund-once-${invoiceId}`;
    const body = { amount: 5_000, reason: 'duplicate' };
    const created = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body, key });
    expect(created.status).toBe(201);
    const retried = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body, key });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: created.body.id, number: created.body.number, status: 'succeeded', amount: 5_000 });
    expect(stripeRefundsOf(paymentReference)).toHaveLength(1);
    const reused = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { ...body, amount: 6_000 }, key });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ type: 'idempotency_key_reused', field: 'Idempotency-Key' });

    // Stripe answers 500 before its idempotency layer: nothing refunded, the note waits, its
    // 7,000 held back from what may still be refunded.
    stack.simulator.failNextRefund(1, 'server_error');
    const lostKey = `refund-lost-${invoiceId}`;
    const pending = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 7_000, reason: 'duplicate' }, key: lostKey });
    expect(pending.status).toBe(202);
    expect(pending.body).toMatchObject({ status: 'pending', number: null, amount: 7_000, settlement: null, refund: { gateway: 'stripe', reference: null } });
    expect(pending.body.failure.message).toContain('injected by stripe-simulator');
    expect(pending.body.invoice).toMatchObject({ amountRefunded: 5_000, refundable: 488_000 });
    expect(stripeRefundsOf(paymentReference)).toHaveLength(1);
    expect(await entryLines(`je_refund_${pending.body.id}`)).toEqual([]);

    const resumed = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 7_000, reason: 'duplicate' }, key: lostKey });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ id: pending.body.id, status: 'succeeded', failure: null });
    expect(resumed.body.invoice).toMatchObject({ amountRefunded: 12_000, refundable: 488_000 });
    expect(stripeRefundsOf(paymentReference).map((r) => [r.amount, r.idempotencyKey])).toEqual([
      [5_000, created.body.id],
      [7_000, pending.body.id],
    ]);

    // Without an Idempotency-Key nobody retries: the timer asks again, under the note's own key.
    stack.simulator.failNextRefund(1, 'server_error');
    const unkeyed = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 8_000, reason: 'duplicate' } });
    expect([unkeyed.status, unkeyed.body.status]).toEqual([202, 'pending']);
    const resumedByTimer = await resumePendingRefunds(stack.pool, [stripe, paypal], { olderThanSeconds: 0 });
    expect(resumedByTimer.map((n) => [n.id, n.status])).toEqual([[unkeyed.body.id, 'succeeded']]);
    expect(stripeRefundsOf(paymentReference).map((r) => r.amount)).toEqual([5_000, 7_000, 8_000]);
  });

  it('never pays back more than was paid, nor twice, when requests race', async () => {
    const { invoiceId, paymentReference } = await paidInvoice();
    // Two full refunds under different keys at once: the invoice row lock decides, one wins.
    const raced = await Promise.all(
      ['a', 'b'].map((k) => refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'duplicate' }, key: `race-${k}-${invoiceId}` })),
    );
    expect(raced.map((r) => r.status).sort()).toEqual([201, 409]);
    // The same key twice at once: one note, one refund at Stripe.
    const key = `race-same-${invoiceId}`;
    const other = await paidInvoice();
    const same = await Promise.all(
      [1, 2].map(() => refunds('POST', `/v1/invoices/${other.invoiceId}/refunds`, { body: { amount: 3_000, reason: 'duplicate' }, key })),
    );
    expect(new Set(same.map((r) => r.body.id)).size).toBe(1);
    expect(same.every((r) => [200, 201, 202].includes(r.status))).toBe(true);
    const settled = await refunds('POST', `/v1/invoices/${other.invoiceId}/refunds`, { body: { amount: 3_000, reason: 'duplicate' }, key });
    expect([settled.status, settled.body.status]).toEqual([200, 'succeeded']);
    expect(stripeRefundsOf(other.paymentReference).map((r) => [r.amount, r.idempotencyKey])).toEqual([[3_000, same[0]!.body.id]]);
    expect(stripeRefundsOf(paymentReference).map((r) => r.amount)).toEqual([500_000]);
  });

  it('refuses more than is refundable with 422 naming amount and the figure, writing nothing', async () => {
    const { invoiceId } = await paidInvoice();
    const key = `too-much-${invoiceId}`;
    const before = await footprint(invoiceId, key);
    const tooMuch = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 500_001, reason: 'requested_by_customer' }, key });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error).toMatchObject({
      type: 'amount_exceeds_refundable',
      field: 'amount',
      message: `amount: 500001 exceeds the 500000 that can still be refunded on invoice ${invoiceId}`,
    });
    expect(await footprint(invoiceId, key)).toEqual(before);

    const bad: [unknown, string, string][] = [
      [{ amount: 0, reason: 'duplicate' }, 'amount', 'amount: Number must be greater than 0'],
      [{ amount: 12.5, reason: 'duplicate' }, 'amount', 'amount: must be an integer number of minor units'],
      [{ amount: '100', reason: 'duplicate' }, 'amount', 'amount: Expected number, received string'],
      [{ reason: 'bored' }, 'reason', "reason: Invalid enum value. Expected 'requested_by_customer' | 'duplicate' | 'fraudulent' | 'service_not_delivered', received 'bored'"],
      [{}, 'reason', 'reason: Required'],
      [{ reason: 'duplicate', lines: [] }, 'lines', 'lines: unknown field'],
    ];
    for (const [body, field, message] of bad) {
      const response = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body, key });
      expect([response.status, response.body.error.field, response.body.error.message]).toEqual([400, field, message]);
    }
    expect(await footprint(invoiceId, key)).toEqual(before);

    const unknown = await refunds('POST', '/v1/invoices/in_doesnotexist_0000/refunds', { body: { reason: 'duplicate' } });
    expect([unknown.status, unknown.body.error.message]).toEqual([404, 'invoice in_doesnotexist_0000 does not exist']);
    expect((await refunds('POST', '/v1/invoices/not-an-invoice/refunds', { body: { reason: 'duplicate' } })).status).toBe(404);
    expect((await refunds('GET', '/v1/invoices/in_doesnotexist_0000/credit-notes')).status).toBe(404);
    const readOnly = await stack.apiKey(['invoices:read']);
    const forbidden = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'duplicate' }, apiKey: readOnly });
    expect(forbidden.status).toBe(403);

    // The refused request's key was not kept: it still works for a valid request.
    const valid = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 500_000, reason: 'requested_by_customer' }, key });
    expect(valid.status).toBe(201);
  });

  it('refuses to refund an invoice that was never paid (409), writing nothing', async () => {
    const subscriptionId = await subscribe('pm_card_chargeDeclinedInsufficientFunds');
    const view = await waitFor(async () => {
      const v = (await api('GET', `/v1/subscriptions/${subscriptionId}`)).body;
      return v.lastPayment?.outcome === 'declined' ? v : null;
    }, 'the declined first payment');
    const invoiceId: string = view.lastPayment.invoiceId;
    const key = `unpaid-${invoiceId}`;
    const before = await footprint(invoiceId, key);
    const refused = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'requested_by_customer' }, key });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ type: 'invalid_state', message: `invoice ${invoiceId} is open: only a paid invoice can be refunded` });
    expect(await footprint(invoiceId, key)).toEqual(before);
  });

  it('refunds a PayPal-paid invoice through PayPal, never through Stripe', async () => {
    const { invoiceId, paymentReference } = await paidInvoice({ paypal: true });
    const part = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 20_000, reason: 'requested_by_customer' }, key: `pp-1-${invoiceId}` });
    expect(part.status).toBe(201);
    expect(part.body).toMatchObject({ status: 'succeeded', amount: 20_000, refund: { gateway: 'paypal', paymentReference } });
    const rest = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'requested_by_customer' }, key: `pp-2-${invoiceId}` });
    expect(rest.status).toBe(201);
    expect(rest.body).toMatchObject({ amount: 480_000, invoice: { amountRefunded: 500_000, refundable: 0, refundStatus: 'refunded' } });

    const paidBack = stack.paypal.refunds().filter((r) => r.captureId === paymentReference);
    expect(paidBack.map((r) => [r.id, r.amount, r.currency, r.requestId, r.customId])).toEqual([
      [part.body.refund.reference, '200.00', 'USD', `${part.body.id}:refund`, part.body.id],
      [rest.body.refund.reference, '4800.00', 'USD', `${rest.body.id}:refund`, rest.body.id],
    ]);
    expect(stack.paypal.captures().find((c) => c.id === paymentReference)?.status).toBe('REFUNDED');
    expect(stack.simulator.refunds().filter((r) => r.idempotencyKey === part.body.id || r.idempotencyKey === rest.body.id)).toEqual([]);
    expect(await entryLines(`je_refund_${part.body.id}`)).toEqual([
      ['accounts_receivable', 20_000, 0],
      ['cash:paypal', 0, 20_000],
    ]);
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:paypal', balance: 0 },
      { account: 'revenue', balance: 0 },
    ]);
  });

  it('records a refund the gateway refuses as failed (402), books nothing and releases the amount', async () => {
    const { invoiceId, paymentReference } = await paidInvoice();
    // Refunded behind our back, straight at Stripe.
    const raw = new Stripe(STRIPE_KEY, { host: '127.0.0.1', port: stack.simulator.port, protocol: 'http' });
    await raw.refunds.create({ payment_intent: paymentReference });
    const key = `refused-${invoiceId}`;
    const refused = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 1_000, reason: 'requested_by_customer' }, key });
    expect(refused.status).toBe(402);
    expect(refused.body.error.type).toBe('refund_failed');
    expect(refused.body.error.message).toMatch(/^the gateway refused refund cn_[a-z0-9]{24}: charge_already_refunded: /);
    // The same key answers the same refusal, without asking Stripe to refund again.
    const again = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 1_000, reason: 'requested_by_customer' }, key });
    expect([again.status, again.body.error.message]).toEqual([402, refused.body.error.message]);

    const listed = await refunds('GET', `/v1/invoices/${invoiceId}/credit-notes`);
    expect(listed.body.data).toEqual([
      expect.objectContaining({ status: 'failed', number: null, amount: 1_000, failure: expect.objectContaining({ code: 'charge_already_refunded' }) }),
    ]);
    expect(listed.body.invoice).toMatchObject({ amountRefunded: 0, refundable: 500_000 });
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: 500_000 },
      { account: 'revenue', balance: -500_000 },
    ]);
  });
});

describe('refunds and credit notes on a taxed invoice', () => {
  /** £1,000.00 + 20% UK VAT = £1,200.00 on NET terms, issued straight into PostgreSQL. */
  async function taxedInvoice(): Promise<{ invoiceId: string; customerId: string }> {
    const customerId = await createTestCustomer(stack.pool, 'Albion Coaching Ltd');
    const contract: EnterpriseContract = {
      id: `ctr_f${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      customerId,
      currency: 'GBP',
      startsAt: '2046-02-01T09:00:00.000Z',
      termMonths: 12,
      billing: 'upfront',
      lineItems: [{ id: 'workshop', description: 'Leadership workshop', unitAmount: 100_000, quantity: 1, unit: 'item' }],
    };
    const invoice = buildContractInvoice(contract, 0, taxTreatmentFor({ country: 'GB' }));
    const issued: IssuedEnterpriseInvoice = {
      invoice,
      tax: invoiceTotals(invoice.lines).tax,
      contractId: contract.id,
      workflowId: `enterprise-invoice-${invoice.id}`,
      termMonths: 12,
      netDays: 30,
      taxCountry: 'GB',
      units: ['item'],
    };
    expect([invoice.total, issued.tax]).toEqual([120_000, 20_000]);
    await recordIssuedEnterpriseInvoice(stack.pool, issued);
    return { invoiceId: invoice.id, customerId };
  }

  /** Paid by card through Stripe, recorded as the enterprise workflow's activities do. */
  async function payByCard(invoiceId: string): Promise<string> {
    const key = `${invoiceId}:card-1`;
    await recordAttemptStarted(stack.pool, { idempotencyKey: key, invoiceId, attempt: 1, gateway: 'stripe', amount: 120_000, currency: 'GBP', paymentMethodToken: 'pm_card_visa' });
    const outcome = await stripe.charge({
      amount: { amount: 120_000, currency: 'GBP' },
      paymentMethodToken: 'pm_card_visa',
      idempotencyKey: key,
      description: 'Leadership workshop',
      metadata: { invoice_id: invoiceId },
    });
    if (outcome.status !== 'succeeded') throw new Error(`charge ${outcome.status}`);
    await recordAttemptOutcome(stack.pool, key, outcome, 5);
    await recordInvoicePayment(stack.pool, {
      paymentId: `${invoiceId}:payment-1`,
      invoiceId,
      reference: 'CARD-1',
      method: 'card',
      amount: 120_000,
      currency: 'GBP',
      receivedAt: '2046-02-03T09:00:00.000Z',
      gateway: 'stripe',
      gatewayReference: outcome.reference,
    });
    return outcome.reference;
  }

  it('reverses revenue and VAT to the penny: 12,345 then the rest of 120,000', async () => {
    const { invoiceId } = await taxedInvoice();
    await payByCard(invoiceId);
    const part = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 12_345, reason: 'service_not_delivered' } });
    expect(part.status).toBe(201);
    // VAT share: 20,000 x 12,345 / 120,000 = 2,057.5 -> 2,058 (half away from zero); revenue 10,287.
    expect(part.body).toMatchObject({ amount: 12_345, tax: 2_058, currency: 'GBP' });
    expect(await entryLines(`je_credit_note_${part.body.id}`)).toEqual([
      ['revenue', 10_287, 0],
      ['tax_payable', 2_058, 0],
      ['accounts_receivable', 0, 12_345],
    ]);
    const rest = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'service_not_delivered' } });
    expect(rest.status).toBe(201);
    // The rest, 107,655: VAT 20,000 - 2,058 = 17,942, revenue 89,713; together exactly the invoice.
    expect(rest.body).toMatchObject({ amount: 107_655, tax: 17_942, invoice: { refundStatus: 'refunded', refundable: 0 } });
    expect(await entryLines(`je_credit_note_${rest.body.id}`)).toEqual([
      ['revenue', 89_713, 0],
      ['tax_payable', 17_942, 0],
      ['accounts_receivable', 0, 107_655],
    ]);
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: 0 },
      { account: 'revenue', balance: 0 },
      { account: 'tax_payable', balance: 0 },
    ]);
  });

  it('credits an open invoice down to what is owed, refuses more, and settles it when nothing is left', async () => {
    const { invoiceId } = await taxedInvoice();
    const key = `credit-${invoiceId}`;
    const goodwill = await refunds('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 30_000, reason: 'goodwill', memo: 'late start' }, key });
    expect(goodwill.status).toBe(201);
    // VAT share 20,000 x 30,000 / 120,000 = 5,000.
    expect(goodwill.body).toMatchObject({
      kind: 'credit',
      status: 'succeeded',
      amount: 30_000,
      tax: 5_000,
      memo: 'late start',
      refund: null,
      settlement: { reducedAmountDue: 30_000, refunded: 0, creditedToBalance: 0 },
      invoice: { status: 'open', amountDue: 90_000, amountCredited: 30_000, refundable: 0 },
    });
    expect(await entryLines(`je_credit_note_${goodwill.body.id}`)).toEqual([
      ['revenue', 25_000, 0],
      ['tax_payable', 5_000, 0],
      ['accounts_receivable', 0, 30_000],
    ]);
    const replay = await refunds('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 30_000, reason: 'goodwill', memo: 'late start' }, key });
    expect([replay.status, replay.body.id]).toEqual([200, goodwill.body.id]);

    const before = await footprint(invoiceId, `credit-too-much-${invoiceId}`);
    const tooMuch = await refunds('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 90_001, reason: 'goodwill' }, key: `credit-too-much-${invoiceId}` });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error).toMatchObject({
      type: 'amount_exceeds_creditable',
      field: 'amount',
      message: `amount: 90001 exceeds the 90000 that can still be credited on invoice ${invoiceId}`,
    });
    expect(await footprint(invoiceId, `credit-too-much-${invoiceId}`)).toEqual(before);
    const open = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { reason: 'requested_by_customer' } });
    expect(open.status).toBe(409);

    const rest = await refunds('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 90_000, reason: 'order_change' } });
    expect(rest.status).toBe(201);
    expect(rest.body).toMatchObject({ tax: 15_000, invoice: { status: 'paid', amountDue: 0, amountPaid: 0, amountCredited: 120_000 } });
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'revenue', balance: 0 },
      { account: 'tax_payable', balance: 0 },
    ]);
    const listed = await refunds('GET', `/v1/invoices/${invoiceId}/credit-notes`);
    expect(listed.body.data.map((n: { id: string; tax: number }) => [n.id, n.tax])).toEqual([
      [goodwill.body.id, 5_000],
      [rest.body.id, 15_000],
    ]);
  });

  it("credits a paid invoice to the customer's balance, which shrinks what can be refunded", async () => {
    const { invoiceId } = await taxedInvoice();
    await payByCard(invoiceId);
    const credit = await refunds('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 24_000, reason: 'service_not_delivered' } });
    expect(credit.status).toBe(201);
    expect(credit.body).toMatchObject({
      tax: 4_000,
      settlement: { reducedAmountDue: 0, refunded: 0, creditedToBalance: 24_000 },
      invoice: { status: 'paid', amountCredited: 24_000, amountRefunded: 0, refundable: 96_000 },
    });
    expect(await entryLines(`je_credit_granted_${credit.body.id}`)).toEqual([
      ['accounts_receivable', 24_000, 0],
      ['customer_credit', 0, 24_000],
    ]);
    const tooMuch = await refunds('POST', `/v1/invoices/${invoiceId}/refunds`, { body: { amount: 96_001, reason: 'requested_by_customer' } });
    expect(tooMuch.body.error).toMatchObject({ field: 'amount', message: `amount: 96001 exceeds the 96000 that can still be refunded on invoice ${invoiceId}` });
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: 120_000 },
      { account: 'customer_credit', balance: -24_000 },
      { account: 'revenue', balance: -80_000 },
      { account: 'tax_payable', balance: -16_000 },
    ]);
  });
});

describe('the refund call of each gateway adapter', () => {
  it('Stripe: refunds once per key, and says failed for more than remains or an unknown payment', async () => {
    const charged = await stripe.charge({ amount: { amount: 9_700, currency: 'USD' }, paymentMethodToken: 'pm_card_visa', idempotencyKey: `adapter-${randomUUID()}`, description: 'x', metadata: {} });
    if (charged.status !== 'succeeded') throw new Error('charge failed');
    const request = { gatewayReference: charged.reference, amount: 1_250, currency: 'USD' as const, idempotencyKey: `re-${randomUUID()}`, reason: 'fraudulent' as const };
    const first = await stripe.refund(request);
    expect(first).toEqual({ outcome: 'succeeded', gateway: 'stripe', reference: expect.stringMatching(/^re_/) });
    expect(await stripe.refund(request)).toEqual(first);
    expect(stripeRefundsOf(charged.reference).map((r) => [r.amount, r.idempotencyKey])).toEqual([[1_250, request.idempotencyKey]]);
    expect(await stripe.refund({ ...request, amount: 8_451, idempotencyKey: `re-${randomUUID()}` })).toMatchObject({ outcome: 'failed', code: 'amount_too_large' });
    expect(await stripe.refund({ ...request, gatewayReference: 'pi_doesnotexist', idempotencyKey: `re-${randomUUID()}` })).toMatchObject({ outcome: 'failed', code: 'resource_missing' });
  });

  it('PayPal: refunds a capture once per key, and says failed for more than remains', async () => {
    const charged = await paypal.charge({ amount: { amount: 9_700, currency: 'USD' }, paymentMethodToken: 'pp_vault_success_adapter', idempotencyKey: `adapter-${randomUUID()}`, description: 'x', metadata: {} });
    if (charged.status !== 'succeeded') throw new Error('charge failed');
    const request = { gatewayReference: charged.reference, amount: 1_250, currency: 'USD' as const, idempotencyKey: `re-${randomUUID()}`, reason: 'duplicate' as const };
    const first = await paypal.refund(request);
    expect(first).toEqual({ outcome: 'succeeded', gateway: 'paypal', reference: expect.any(String) });
    expect(await paypal.refund(request)).toEqual(first);
    expect(stack.paypal.refunds().filter((r) => r.captureId === charged.reference).map((r) => [r.amount, r.requestId, r.noteToPayer])).toEqual([
      ['12.50', `${request.idempotencyKey}:refund`, 'Refund of a duplicate payment'],
    ]);
    expect(await paypal.refund({ ...request, amount: 8_451, idempotencyKey: `re-${randomUUID()}` })).toMatchObject({ outcome: 'failed', code: 'refund_amount_exceeded' });
  });
});

describe('disputes recorded from webhooks', () => {
  const stripeDispute = (eventId: string, type: string, created: number, paymentIntent: string, status: string, extra: object = {}) => ({
    id: eventId,
    type,
    created,
    data: { object: { id: `dp_${paymentIntent.slice(3, 15)}`, object: 'dispute', payment_intent: paymentIntent, status, reason: 'fraudulent', ...extra } },
  });

  it('books a lost chargeback once, whatever the delivery order, and keeps the invoice paid', async () => {
    const { invoiceId, paymentReference } = await paidInvoice();
    const opened = disputeFromWebhook('stripe', stripeDispute('evt_dp_open', 'charge.dispute.created', 1_900_000_000, paymentReference, 'needs_response', { amount: 500_000, currency: 'usd' }))!;
    const lost = disputeFromWebhook(
      'stripe',
      stripeDispute('evt_dp_lost', 'charge.dispute.closed', 1_900_600_000, paymentReference, 'lost', {
        amount: 500_000,
        currency: 'usd',
        balance_transactions: [{ amount: -500_000, fee: 1_500 }],
      }),
    )!;
    // Closed first, then its creation late, then the closing again (a retried delivery).
    const first = await recordDisputeEvent(stack.pool, lost);
    expect(first).toMatchObject({ applied: true, postedEntries: [`je_dispute_lost_${lost.disputeId}`], unbooked: null });
    expect(await recordDisputeEvent(stack.pool, opened)).toMatchObject({ applied: false, postedEntries: [] });
    expect(await recordDisputeEvent(stack.pool, lost)).toMatchObject({ applied: true, postedEntries: [] });

    expect(await findDispute(stack.pool, lost.disputeId)).toEqual({
      id: lost.disputeId,
      gateway: 'stripe',
      paymentReference,
      invoiceId,
      status: 'lost',
      gatewayStatus: 'lost',
      reason: 'fraudulent',
      amount: 500_000,
      currency: 'USD',
      fee: 1_500,
      // 1,900,000,000 and 1,900,600,000 s after the epoch: created, then lost a week later.
      openedAt: '2030-03-17T17:46:40.000Z',
      closedAt: '2030-03-24T16:26:40.000Z',
      lastEventAt: '2030-03-24T16:26:40.000Z',
    });
    expect(await entryLines(`je_dispute_lost_${lost.disputeId}`)).toEqual([
      ['dispute_losses', 500_000, 0],
      ['dispute_fees', 1_500, 0],
      ['cash:stripe', 0, 501_500],
    ]);
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: -1_500 },
      { account: 'dispute_fees', balance: 1_500 },
      { account: 'dispute_losses', balance: 500_000 },
      { account: 'revenue', balance: -500_000 },
    ]);
    expect((await listInvoiceDisputes(stack.pool, invoiceId)).map((d) => d.id)).toEqual([lost.disputeId]);
  });

  it("takes a PayPal dispute's amount and currency from our payment when the event leaves them out", async () => {
    const { invoiceId, paymentReference } = await paidInvoice({ paypal: true });
    const resolved = disputeFromWebhook('paypal', {
      id: 'WH-DISPUTE-RESOLVED',
      event_type: 'CUSTOMER.DISPUTE.RESOLVED',
      create_time: '2031-06-01T12:00:00.000Z',
      resource: {
        dispute_id: `PP-D-${paymentReference}`,
        status: 'RESOLVED',
        dispute_outcome: { outcome_code: 'ACCEPTED' },
        disputed_transactions: [{ seller_transaction_id: paymentReference }],
      },
    })!;
    expect(await recordDisputeEvent(stack.pool, resolved)).toMatchObject({ applied: true, dispute: { invoiceId, amount: 500_000, currency: 'USD', status: 'lost' } });
    expect(await entryLines(`je_dispute_lost_PP-D-${paymentReference}`)).toEqual([
      ['dispute_losses', 500_000, 0],
      ['cash:paypal', 0, 500_000],
    ]);
  });
});

it('leaves books that reconcile: debits = credits, every receivable = what is still owed', async () => {
  const report = await reconcileLedgerSnapshot(stack.pool);
  if (!report.ok) console.error(formatReconcileReport(report));
  expect(report.ok).toBe(true);
});
