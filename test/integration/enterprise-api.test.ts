// Enterprise invoices over HTTP: the enterprise and invoice routers behind the real auth and
// error handling, against the Temporal dev server, a worker running the enterprise invoice
// workflow with the real activities, and PostgreSQL. The PDF is checked by extracting its text.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import express from 'express';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { inflateSync } from 'node:zlib';
import pino from 'pino';
import { createEnterpriseActivities } from '../../activities/enterprise';
import { authenticated, createApiKey, SCOPES, type Scope } from '../../api/auth';
import { ApiError, errorHandler } from '../../api/errors';
import { enterpriseRoutes } from '../../api/routes/enterprise';
import { invoiceRoutes } from '../../api/routes/invoices';
import { insertCustomer } from '../../db/customers';
import { accountBalances } from '../../db/ledger';
import type { DatabasePool } from '../../db/pool';
import { formatNoticeDate } from '../../domain/notices';
import { createStripeGateway } from '../../gateways/stripe';
import { enterpriseInvoiceWorkflowId } from '../../workflows/enterprise-messages';
import { startStripeSimulator, type StripeSimulator } from '../peers/stripe-simulator';
import { requiredEnv, testPool, uniqueTaskQueue, waitFor } from '../support/environment';
import { request } from '../support/stack';

let pool: DatabasePool;
let simulator: StripeSimulator;
let connection: Connection;
let nativeConnection: NativeConnection;
let temporal: Client;
let worker: Worker;
let workerRun: Promise<void>;
let server: Server;
let baseUrl: string;
const taskQueue = uniqueTaskQueue('enterprise-api');
const started: string[] = [];

beforeAll(async () => {
  [pool, simulator, connection, nativeConnection] = await Promise.all([
    testPool(),
    startStripeSimulator({ port: 0, stripeMockUrl: requiredEnv('STRIPE_MOCK_URL') }),
    Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }),
    NativeConnection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }),
  ]);
  temporal = new Client({ connection });
  worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../workflows/enterprise-invoice'),
    activities: createEnterpriseActivities({
      pool,
      gateway: createStripeGateway({ apiKey: 'sk_test_enterprise_api', host: '127.0.0.1', port: simulator.port, protocol: 'http' }),
    }),
  });
  workerRun = worker.run();

  // The routers as api/app.ts mounts them: behind authentication, with the API's error handler.
  const app = express();
  app.use((_req, res, next) => {
    res.locals.requestId = randomUUID();
    next();
  });
  app.use(express.json({ limit: '32kb' }));
  app.use('/v1', authenticated(pool));
  app.use(enterpriseRoutes(pool, temporal, taskQueue));
  app.use(invoiceRoutes(pool));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(pino({ level: 'silent' })));
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  baseUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  // Nothing is left running on the dev server: open invoices are voided by the tests or ended here.
  for (const invoiceId of started) {
    const handle = temporal?.workflow.getHandle(enterpriseInvoiceWorkflowId(invoiceId));
    const status = await handle?.describe().then((d) => d.status.name, () => null);
    if (status === 'RUNNING') await handle!.terminate('test over');
  }
  worker?.shutdown();
  await workerRun;
  await nativeConnection?.close();
  await new Promise((resolve) => server?.close(resolve));
  await connection?.close();
  await simulator?.close();
  await pool?.end();
});

async function apiKey(scopes: readonly Scope[] = SCOPES): Promise<string> {
  return (await createApiKey(pool, 'enterprise-test', scopes)).key;
}

async function customer(country: string | null): Promise<string> {
  const id = `cus_e${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  await insertCustomer(pool, { id, email: `${id}@example.test`, name: 'Globex Learning GmbH', country });
  return id;
}

/** The text of a PDF made by pdfkit: page streams inflated, the strings of every TJ array joined. */
function pdfText(pdf: Buffer): string {
  const raw = pdf.toString('latin1');
  const texts: string[] = [];
  for (const match of raw.matchAll(/stream\r?\n([\s\S]*?)\r?\nendstream/g)) {
    let content: string;
    try {
      content = inflateSync(Buffer.from(match[1]!, 'latin1')).toString('latin1');
    } catch {
      content = match[1]!;
    }
    for (const op of content.matchAll(/\[((?:<[0-9a-fA-F]*>|[-\d.\s])*)\]\s*TJ/g)) {
      const hex = [...op[1]!.matchAll(/<([0-9a-fA-F]*)>/g)].map((h) => h[1]).join('');
      texts.push(Buffer.from(hex, 'hex').toString('latin1'));
    }
  }
  return texts.join('\n');
}

describe('enterprise invoices over HTTP', () => {
  it('issues a NET 30 invoice once per Idempotency-Key, records bank transfers, answers JSON and PDF', async () => {
    const key = await apiKey();
    const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      request(baseUrl, method, path, { apiKey: key, body, headers });
    const customerId = await customer('GB');
    // 20 seats x $450.00 = 900,000; setup fee $1,999.99 = 199,999; VAT 20% (GB, the customer's
    // country): 180,000 + 39,999.8 -> 40,000; total 1,319,999 cents.
    const body = {
      customerId,
      currency: 'USD',
      termMonths: 12,
      lineItems: [
        { description: 'Elite coaching for managers', unitAmount: 45_000, quantity: 20, unit: 'seat' },
        { description: 'Programme setup', unitAmount: 199_999, quantity: 1, unit: 'item' },
      ],
    };
    const created = await api('POST', '/v1/enterprise/invoices', body, { 'Idempotency-Key': `ent-${customerId}` });
    expect(created.status).toBe(201);
    const invoiceId: string = created.body.invoiceId;
    started.push(invoiceId);
    expect(invoiceId).toMatch(/^in_[a-z0-9]{20}_0000$/);
    expect(created.body).toMatchObject({ customerId, currency: 'USD', subtotal: 1_099_999, tax: 220_000, total: 1_319_999 });
    expect(Date.parse(created.body.dueAt) - Date.parse(created.body.issuedAt)).toBe(30 * 86_400_000);

    const retried = await api('POST', '/v1/enterprise/invoices', body, { 'Idempotency-Key': `ent-${customerId}` });
    expect(retried.status).toBe(200);
    expect(retried.body.invoiceId).toBe(invoiceId);
    const reused = await api('POST', '/v1/enterprise/invoices', { ...body, termMonths: 6 }, { 'Idempotency-Key': `ent-${customerId}` });
    expect(reused.status).toBe(422);

    const open = await waitFor(async () => {
      const view = await api('GET', `/v1/enterprise/invoices/${invoiceId}`);
      return view.body.status === 'open' ? view.body : null;
    }, 'the invoice to be issued');
    expect(open.number).toMatch(/^DB-\d{6}$/);
    expect(open.remindersSent).toEqual([]);
    expect(open.reminderSchedule.map((r: { daysFromDue: number }) => r.daysFromDue)).toEqual([-7, 0, 7, 14]);

    // A part payment by bank transfer, then one more than is owed: refused, with the reason.
    const part = await api('POST', `/v1/enterprise/invoices/${invoiceId}/payments`, { amount: 319_999, reference: 'GLOBEX-TT-001' });
    expect(part.status).toBe(200);
    expect(part.body).toMatchObject({ status: 'partially_paid', amountPaid: 319_999, amountDue: 1_000_000 });
    const over = await api('POST', `/v1/enterprise/invoices/${invoiceId}/payments`, { amount: 1_000_001, reference: 'GLOBEX-TT-002' });
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({
      type: 'payment_rejected',
      message: `payment refused: payment of 1000001 exceeds the 1000000 still owed on invoice ${invoiceId}`,
    });
    const badAmount = await api('POST', `/v1/enterprise/invoices/${invoiceId}/payments`, { amount: 100.5, reference: 'X' });
    expect(badAmount.status).toBe(400);
    expect(badAmount.body.error.field).toBe('amount');
    const cardWithoutToken = await api('POST', `/v1/enterprise/invoices/${invoiceId}/payments`, { amount: 100, method: 'card', reference: 'C1' });
    expect(cardWithoutToken.status).toBe(400);
    expect(cardWithoutToken.body.error.field).toBe('paymentMethod');

    // JSON from PostgreSQL: lines with seats and tax, the payment, what is still due.
    const json = await api('GET', `/v1/invoices/${invoiceId}`);
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({
      id: invoiceId,
      number: open.number,
      status: 'open',
      currency: 'USD',
      subtotal: 1_099_999,
      tax: 220_000,
      total: 1_319_999,
      amountPaid: 319_999,
      amountDue: 1_000_000,
      dueAt: open.dueAt,
      customer: { id: customerId, country: 'GB' },
      collection: { status: 'partially_paid', netDays: 30 },
      payments: [expect.objectContaining({ reference: 'GLOBEX-TT-001', method: 'bank_transfer', amount: 319_999 })],
    });
    expect(json.body.lines).toEqual([
      expect.objectContaining({ description: 'Elite coaching for managers (20 seats)', quantity: 20, unit: 'seat', unitAmount: 45_000, amount: 900_000, taxAmount: 180_000, taxLabel: 'VAT 20% (GB)' }),
      expect.objectContaining({ description: 'Programme setup', quantity: 1, unit: 'item', unitAmount: 199_999, amount: 199_999, taxAmount: 40_000 }),
    ]);

    // The PDF: number, lines, totals and the due date are in its text.
    const response = await fetch(`${baseUrl}/v1/invoices/${invoiceId}.pdf`, { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    const pdf = Buffer.from(await response.arrayBuffer());
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const text = pdfText(pdf);
    expect(text).toContain(`Invoice ${open.number}`);
    expect(text).toContain('Elite coaching for managers (20 seats)');
    expect(text).toContain('Programme setup');
    expect(text).toContain('$450.00');
    expect(text).toContain('$10,999.99'); // subtotal
    expect(text).toContain('VAT 20% (GB)');
    expect(text).toContain('$2,200.00'); // tax
    expect(text).toContain('$13,199.99'); // total
    expect(text).toContain('$10,000.00'); // amount due
    expect(text).toContain(formatNoticeDate(open.dueAt));
    expect(text).toContain('NET 30');

    // The rest settles it: paid, the workflow completes, a later payment is refused.
    const rest = await api('POST', `/v1/enterprise/invoices/${invoiceId}/payments`, {
      amount: 1_000_000,
      reference: 'GLOBEX-TT-003',
      receivedAt: new Date().toISOString(),
    });
    expect(rest.status).toBe(200);
    expect(rest.body).toMatchObject({ status: 'paid', amountDue: 0 });
    expect((await temporal.workflow.getHandle(enterpriseInvoiceWorkflowId(invoiceId)).result()).status).toBe('paid');
    const after = await api('POST', `/v1/enterprise/invoices/${invoiceId}/payments`, { amount: 1, reference: 'GLOBEX-TT-004' });
    expect(after.status).toBe(409);
    expect((await api('GET', `/v1/enterprise/invoices/${invoiceId}`)).body.status).toBe('paid');
    expect((await api('GET', `/v1/invoices/${invoiceId}`)).body).toMatchObject({ status: 'paid', amountPaid: 1_319_999, amountDue: 0 });
    const paidPdf = await fetch(`${baseUrl}/v1/invoices/${invoiceId}.pdf`, { headers: { authorization: `Bearer ${key}` } });
    expect(pdfText(Buffer.from(await paidPdf.arrayBuffer()))).toContain('PAID');
    expect(await accountBalances(pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:bank', balance: 1_319_999 },
      { account: 'revenue', balance: -1_099_999 },
      { account: 'tax_payable', balance: -220_000 },
    ]);
  });

  it('voids an unpaid invoice over HTTP', async () => {
    const key = await apiKey();
    const api = (method: string, path: string, body?: unknown) => request(baseUrl, method, path, { apiKey: key, body });
    const customerId = await customer('US');
    const created = await api('POST', '/v1/enterprise/invoices', {
      customerId,
      lineItems: [{ description: 'Workshop', unitAmount: 500_000, quantity: 1 }],
    });
    expect(created.status).toBe(201);
    const invoiceId: string = created.body.invoiceId;
    started.push(invoiceId);
    expect(created.body).toMatchObject({ tax: 0, total: 500_000 });
    await waitFor(async () => (await api('GET', `/v1/enterprise/invoices/${invoiceId}`)).body.status === 'open', 'issue');
    const voided = await api('POST', `/v1/enterprise/invoices/${invoiceId}/void`, { reason: 'duplicate order' });
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ status: 'void', amountDue: 0 });
    expect((await api('GET', `/v1/invoices/${invoiceId}`)).body).toMatchObject({ status: 'void', collection: { status: 'void', voidReason: 'duplicate order' } });
    expect((await api('POST', `/v1/enterprise/invoices/${invoiceId}/payments`, { amount: 1, reference: 'late' })).status).toBe(409);
  });

  it('validates at the edge and checks scopes: nothing is started for a rejected request', async () => {
    const key = await apiKey();
    const api = (method: string, path: string, body?: unknown) => request(baseUrl, method, path, { apiKey: key, body });
    const customerId = await customer('US');
    const valid = { customerId, lineItems: [{ description: 'Seats', unitAmount: 1000, quantity: 3, unit: 'seat' }] };

    const cases: [unknown, string][] = [
      [{ ...valid, lineItems: [] }, 'lineItems'],
      [{ ...valid, lineItems: [{ description: 'Seats', unitAmount: 10.5, quantity: 3 }] }, 'lineItems.0.unitAmount'],
      [{ ...valid, lineItems: [{ description: 'Seats', unitAmount: 1000, quantity: 0 }] }, 'lineItems.0.quantity'],
      [{ ...valid, currency: 'JPY' }, 'currency'],
      [{ ...valid, taxCountry: 'gb' }, 'taxCountry'],
      [{ ...valid, termMonths: 0 }, 'termMonths'],
      [{ ...valid, surprise: true }, 'surprise'],
      [{ ...valid, customerId: 'acme' }, 'customerId'],
    ];
    for (const [body, field] of cases) {
      const response = await api('POST', '/v1/enterprise/invoices', body);
      expect([response.status, response.body.error?.field]).toEqual([400, field]);
    }
    const unknownCustomer = await api('POST', '/v1/enterprise/invoices', { ...valid, customerId: 'cus_doesnotexist' });
    expect(unknownCustomer.status).toBe(404);
    expect(await temporal.workflow.count(`TaskQueue = "${taskQueue}" AND WorkflowType = "enterpriseInvoiceWorkflow"`).then((c) => c.count)).toBe(
      started.length,
    );

    const readOnly = await apiKey(['invoices:read']);
    const forbidden = await request(baseUrl, 'POST', '/v1/enterprise/invoices', { apiKey: readOnly, body: valid });
    expect(forbidden.status).toBe(403);
    const noKey = await request(baseUrl, 'GET', `/v1/invoices/in_x_0000`);
    expect(noKey.status).toBe(401);
    expect((await api('GET', '/v1/invoices/in_doesnotexist_0000')).status).toBe(404);
    expect((await api('GET', '/v1/invoices/in_doesnotexist_0000.pdf')).status).toBe(404);
    expect((await api('GET', '/v1/enterprise/invoices/in_doesnotexist_0000')).status).toBe(404);
    expect((await api('POST', '/v1/enterprise/invoices/in_abcdefghijklmnopqrst_0000/payments', { amount: 1, reference: 'r' })).status).toBe(404);
  });
});
