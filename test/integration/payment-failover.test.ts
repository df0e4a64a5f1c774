// Failover through the whole service: Stripe answers 500s, so the router, after making sure
// Stripe charged nothing, takes the renewal on the customer's PayPal backup — exactly once —
// and the ledger books the cash at PayPal.
import { listAttemptsForInvoices } from '../../db/payments';
import { accountBalances } from '../../db/ledger';
import { waitFor } from '../support/environment';
import { request, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

it('Stripe failing with 500s: the charge lands on the PayPal backup once and the ledger says PayPal', async () => {
  const apiKey = await stack.apiKey();
  const api = (method: string, path: string, body?: unknown) => request(stack.baseUrl, method, path, { apiKey, body });
  const customer = (await api('POST', '/v1/customers', { email: 'grace@example.com', name: 'Grace Hopper', country: 'US' })).body;

  const backup = await api('POST', `/v1/customers/${customer.id}/payment-methods`, { gateway: 'paypal', token: 'pp_vault_success_grace', role: 'backup' });
  expect(backup.status).toBe(201);
  expect(backup.body).toMatchObject({ gateway: 'paypal', token: 'pp_vault_success_grace', role: 'backup' });
  const cardNumber = await api('POST', `/v1/customers/${customer.id}/payment-methods`, { gateway: 'paypal', token: '4111111111111111' });
  expect(cardNumber.status).toBe(400);
  expect(cardNumber.body.error.field).toBe('token');

  stack.simulator.failNext(20, 'server_error');
  const created = await api('POST', '/v1/subscriptions', { customerId: customer.id, plan: 'community', interval: 'month', paymentMethod: 'pm_card_visa', trial: false });
  expect(created.status).toBe(201);
  const subscriptionId: string = created.body.subscriptionId;
  const active = await waitFor(async () => {
    const view = (await api('GET', `/v1/subscriptions/${subscriptionId}`)).body;
    return view.status === 'active' ? view : null;
  }, 'the first payment');
  stack.simulator.reset();
  expect(active.lastPayment).toMatchObject({ outcome: 'succeeded', gateway: 'paypal', amount: 9700 });

  const invoiceId = active.lastPayment.invoiceId as string;
  expect(stack.simulator.charges().filter((c) => c.metadata.invoice_id === invoiceId)).toEqual([]);
  const captures = stack.paypal.captures().filter((c) => c.invoiceId === invoiceId || c.customId === invoiceId);
  expect(captures.map((c) => [c.amount, c.currency, c.status])).toEqual([['97.00', 'USD', 'COMPLETED']]);

  const attempts = await listAttemptsForInvoices(stack.pool, [invoiceId]);
  expect(attempts.map((a) => [a.idempotency_key, a.gateway, a.outcome])).toEqual([
    [`${invoiceId}:attempt-1`, 'stripe', 'gateway_error'],
    [`${invoiceId}:attempt-1:paypal`, 'paypal', 'succeeded'],
  ]);
  expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
    { account: 'accounts_receivable', balance: 0 },
    { account: 'cash:paypal', balance: 9700 },
    { account: 'revenue', balance: -9700 },
  ]);
  await api('POST', `/v1/subscriptions/${subscriptionId}/cancel`, { when: 'now' });
});
