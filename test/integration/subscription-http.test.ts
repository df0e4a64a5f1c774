// The vertical slice over HTTP: API -> Temporal dev server -> worker -> Stripe simulator
// (validated by stripe-mock) -> PostgreSQL. Nothing in between is mocked.
import { sql } from 'slonik';
import { z } from 'zod';
import { listAttemptsForInvoices } from '../../db/payments';
import { accountBalances, ledgerTotals } from '../../db/ledger';
import { waitFor } from '../support/environment';
import { request, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('subscription over HTTP, end to end', () => {
  it('creates a customer, subscribes once per Idempotency-Key, charges 9700 cents, books it, and cancels', async () => {
    const apiKey = await stack.apiKey();
    const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      request(stack.baseUrl, method, path, { apiKey, body, headers });

    const customer = await api('POST', '/v1/customers', { email: 'ada@example.com', name: 'Ada Lovelace', country: 'US' });
    expect(customer.status).toBe(201);
    expect(customer.body).toMatchObject({ email: 'ada@example.com', name: 'Ada Lovelace', country: 'US' });
    expect(customer.body.id).toMatch(/^cus_[a-z0-9]{20}$/);
    const customerId: string = customer.body.id;

    const body = { customerId, plan: 'community', interval: 'month', paymentMethod: 'pm_card_visa', trial: false };
    const created = await api('POST', '/v1/subscriptions', body, { 'Idempotency-Key': `sub-${customerId}` });
    expect(created.status).toBe(201);
    const subscriptionId: string = created.body.subscriptionId;
    expect(subscriptionId).toMatch(/^sub_[a-z0-9]{20}$/);
    expect(created.body.plan).toMatchObject({ planId: 'community', interval: 'month', unitAmount: 9700, currency: 'USD' });

    // A retried POST (same key, same body) returns the same subscription and starts nothing new.
    const retried = await api('POST', '/v1/subscriptions', body, { 'Idempotency-Key': `sub-${customerId}` });
    expect(retried.status).toBe(200);
    expect(retried.body.subscriptionId).toBe(subscriptionId);
    // The same key with another body is refused.
    const reused = await api('POST', '/v1/subscriptions', { ...body, interval: 'year' }, { 'Idempotency-Key': `sub-${customerId}` });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ type: 'idempotency_key_reused', field: 'Idempotency-Key' });

    const active = await waitFor(async () => {
      const view = await api('GET', `/v1/subscriptions/${subscriptionId}`);
      return view.body.status === 'active' ? view.body : null;
    }, 'the first payment');
    expect(active.lastPayment).toMatchObject({ amount: 9700, currency: 'USD', outcome: 'succeeded', gateway: 'stripe', declineCode: null });
    expect(active.currentPeriod.index).toBe(0);
    expect(active.nextCharge).toEqual({ at: active.currentPeriod.end, amount: 9700, currency: 'USD' });
    // A calendar month from the anchor: 28 to 31 days, same time of day.
    const days = (Date.parse(active.currentPeriod.end) - Date.parse(active.currentPeriod.start)) / 86_400_000;
    expect([28, 29, 30, 31]).toContain(days);

    const workflows = await stack.temporal.workflow.count(`CustomerId = "${customerId}"`);
    expect(workflows.count).toBe(1);

    const invoices = await api('GET', `/v1/subscriptions/${subscriptionId}/invoices`);
    expect(invoices.status).toBe(200);
    expect(invoices.body.data).toHaveLength(1);
    expect(invoices.body.data[0]).toMatchObject({ status: 'paid', total: 9700, amount_paid: 9700, currency: 'USD' });
    expect(invoices.body.data[0].number).toMatch(/^DB-\d{6}$/);
    const invoiceId: string = invoices.body.data[0].id;

    const attempts = await listAttemptsForInvoices(stack.pool, [invoiceId]);
    expect(attempts).toEqual([
      expect.objectContaining({ idempotency_key: `${invoiceId}:attempt-1`, attempt: 1, gateway: 'stripe', amount: 9700, outcome: 'succeeded' }),
    ]);
    const charges = (await stack.simulator.charges()).filter((c) => c.metadata.subscription_id === subscriptionId);
    expect(charges.map((c) => [c.amount, c.currency, c.idempotencyKey])).toEqual([[9700, 'usd', `${invoiceId}:attempt-1`]]);

    expect(await ledgerTotals(stack.pool, [invoiceId])).toEqual([{ currency: 'USD', debits: 19_400, credits: 19_400 }]);
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: 9700 },
      { account: 'revenue', balance: -9700 },
    ]);
    // The whole ledger balances, per currency.
    for (const total of await ledgerTotals(stack.pool)) expect(total.debits).toBe(total.credits);

    const row = await stack.pool.one(sql.type(z.object({ status: z.string(), unit_amount: z.number() }))`
      SELECT status, unit_amount FROM subscriptions WHERE id = ${subscriptionId}`);
    expect(row).toEqual({ status: 'active', unit_amount: 9700 });

    const atPeriodEnd = await api('POST', `/v1/subscriptions/${subscriptionId}/cancel`, { when: 'period_end' });
    expect(atPeriodEnd.status).toBe(200);
    expect(atPeriodEnd.body).toMatchObject({ status: 'active', cancelAtPeriodEnd: true, nextCharge: null });
    const again = await api('POST', `/v1/subscriptions/${subscriptionId}/cancel`, { when: 'period_end' });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain('already set to cancel at period end');

    const now = await api('POST', `/v1/subscriptions/${subscriptionId}/cancel`, { when: 'now', reason: 'moving on' });
    expect(now.status).toBe(200);
    expect(now.body.status).toBe('canceled');
    const final = await waitFor(async () => {
      const view = await api('GET', `/v1/subscriptions/${subscriptionId}`);
      return view.body.status === 'canceled' ? view.body : null;
    }, 'the canceled state');
    expect(final.nextCharge).toBeNull();
    await waitFor(async () => {
      const status = await stack.pool.oneFirst(sql.type(z.object({ status: z.string() }))`
        SELECT status FROM subscriptions WHERE id = ${subscriptionId}`);
      return status === 'canceled';
    }, 'the read model to show canceled');
  });

  it('answers 404 for a subscription that does not exist', async () => {
    const apiKey = await stack.apiKey();
    const response = await request(stack.baseUrl, 'GET', '/v1/subscriptions/sub_doesnotexist0000000', { apiKey });
    expect(response.status).toBe(404);
    expect(response.body.error.type).toBe('not_found');
  });
});
