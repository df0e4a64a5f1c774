// Bad input at the edge: each request gets the right 4xx naming the field and the reason, and
// leaves no row and no workflow behind.
import { sql } from 'slonik';
import { z } from 'zod';
import { randomUUID } from 'node:crypto';
import { insertCustomer } from '../../db/customers';
import { request, startStack, type Stack } from '../support/stack';

let stack: Stack;
let apiKey: string;
// Fixed before the cases are built (at module load); the row is inserted in beforeAll.
const customerId = `cus_v${randomUUID().replace(/-/g, '').slice(0, 20)}`;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  apiKey = await stack.apiKey();
  await insertCustomer(stack.pool, { id: customerId, email: 'valid@example.test', name: 'Valid', country: 'US' });
});
afterAll(async () => {
  await stack?.close();
});

const counts = z.object({ customers: z.number(), subscriptions: z.number(), payment_methods: z.number(), idempotency: z.number() });

/**
 * Rows this file's requests could have written, scoped to its own customer, API keys and the
 * emails its cases use, so other test files writing at the same time do not disturb the count.
 */
async function snapshot() {
  const rows = await stack.pool.one(sql.type(counts)`
    SELECT (SELECT count(*) FROM customers WHERE email IN ('not-an-email', 'a@example.com'))::int8 AS customers,
           (SELECT count(*) FROM subscriptions WHERE customer_id = ${customerId})::int8 AS subscriptions,
           (SELECT count(*) FROM payment_methods WHERE customer_id = ${customerId})::int8 AS payment_methods,
           (SELECT count(*) FROM api_idempotency_keys WHERE key LIKE 'validation-%')::int8 AS idempotency`);
  const workflows = await stack.temporal.workflow.count(`TaskQueue = "${stack.taskQueue}"`);
  return { ...rows, workflows: workflows.count };
}

const validSubscription = () => ({ customerId, plan: 'community', interval: 'month', paymentMethod: 'pm_card_visa' });

type Case = {
  name: string;
  method?: string;
  path?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  auth?: 'none' | 'wrong' | 'read-only';
  status: number;
  type: string;
  field?: string;
  message?: string | RegExp;
};

const cases: Case[] = [
  { name: 'no API key', auth: 'none', body: validSubscription(), status: 401, type: 'unauthenticated' },
  { name: 'a wrong API key', auth: 'wrong', body: validSubscription(), status: 401, type: 'unauthenticated' },
  { name: 'a key without the write scope', auth: 'read-only', body: validSubscription(), status: 403, type: 'forbidden', message: "lacks the 'subscriptions:write' scope" },
  { name: 'an unknown plan', body: { ...validSubscription(), plan: 'platinum' }, status: 400, type: 'invalid_request', field: 'plan', message: "plan: unknown plan 'platinum'; choose one of elite, group, community" },
  { name: 'an interval the plan is not sold at', body: { ...validSubscription(), interval: 'quarter' }, status: 400, type: 'invalid_request', field: 'interval', message: "interval: plan 'community' is not sold per quarter; offered: month, year" },
  { name: 'a negative quantity', body: { ...validSubscription(), quantity: -1 }, status: 400, type: 'invalid_request', field: 'quantity', message: /quantity: Number must be greater than or equal to 1/ },
  { name: 'a fractional quantity', body: { ...validSubscription(), quantity: 1.5 }, status: 400, type: 'invalid_request', field: 'quantity', message: /quantity: Expected integer, received float/ },
  { name: 'a string quantity', body: { ...validSubscription(), quantity: '2' }, status: 400, type: 'invalid_request', field: 'quantity', message: /quantity: Expected number, received string/ },
  { name: 'an unknown field', body: { ...validSubscription(), discount: 50 }, status: 400, type: 'invalid_request', field: 'discount', message: 'discount: unknown field' },
  { name: 'a card number instead of a token', body: { ...validSubscription(), paymentMethod: '4242424242424242' }, status: 400, type: 'invalid_request', field: 'paymentMethod', message: /card numbers are never accepted/ },
  { name: 'an unsupported currency', body: { ...validSubscription(), currency: 'JPY' }, status: 400, type: 'invalid_request', field: 'currency' },
  { name: 'a customer that does not exist', body: { ...validSubscription(), customerId: 'cus_nobody00000000000000' }, status: 404, type: 'not_found', field: 'customerId' },
  { name: 'malformed JSON', rawBody: '{"customerId": ', status: 400, type: 'invalid_json' },
  { name: 'a JSON array', rawBody: '[1,2]', status: 400, type: 'invalid_request', field: 'body' },
  { name: 'an oversized body', body: { ...validSubscription(), padding: 'x'.repeat(64 * 1024) }, status: 413, type: 'body_too_large' },
  { name: 'a body that is not JSON', rawBody: 'plan=community', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, type: 'unsupported_media_type' },
  { name: 'a bad Idempotency-Key', body: validSubscription(), headers: { 'Idempotency-Key': 'x'.repeat(300) }, status: 400, type: 'invalid_request', field: 'Idempotency-Key' },
  { name: 'a customer with a bad email', path: '/v1/customers', body: { email: 'not-an-email', name: 'X' }, status: 400, type: 'invalid_request', field: 'email', message: 'email: Invalid email' },
  { name: 'a customer with a lower-case country', path: '/v1/customers', body: { email: 'a@example.com', name: 'X', country: 'us' }, status: 400, type: 'invalid_request', field: 'country' },
  { name: 'a customer with an unknown field', path: '/v1/customers', body: { email: 'a@example.com', name: 'X', balance: -5 }, status: 400, type: 'invalid_request', field: 'balance' },
  { name: 'a cancel with an unknown "when"', path: '/v1/subscriptions/sub_nothere/cancel', body: { when: 'tomorrow' }, status: 400, type: 'invalid_request', field: 'when' },
];

describe('API input validation', () => {
  it.each(cases)('refuses $name with $status and writes nothing', async (c) => {
    const before = await snapshot();
    let key: string | undefined = apiKey;
    if (c.auth === 'none') key = undefined;
    if (c.auth === 'wrong') key = `dbk_aaaaaaaaaaaa_${'w'.repeat(43)}`;
    if (c.auth === 'read-only') key = await stack.apiKey(['subscriptions:read']);
    const response = await request(stack.baseUrl, c.method ?? 'POST', c.path ?? '/v1/subscriptions', {
      apiKey: key,
      body: c.body,
      rawBody: c.rawBody,
      headers: { 'Idempotency-Key': `validation-${c.name}`, ...c.headers },
    });
    expect(response.status).toBe(c.status);
    expect(response.body.error.type).toBe(c.type);
    expect(response.body.error.requestId).toBe(response.headers.get('x-request-id'));
    if (c.field) expect(response.body.error.field).toBe(c.field);
    if (c.message) expect(response.body.error.message).toMatch(c.message);
    expect(await snapshot()).toEqual(before);
  });
});
