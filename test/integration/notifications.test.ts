// Notices through the outbox against the real PostgreSQL and a real SMTP server (the capturing
// sink on a free port): each notice is written once and emailed once, whatever retries, outages
// and concurrent senders happen; a future notice waits for its time; a canceled one never goes;
// the card-expiry scan enqueues one notice per card and expiry month.
//
// The outbox and payment_methods are shared with the suites running beside this one, and a pass
// of the sender claims every due notice. So this file's notices and cards are dated 2001: nothing
// else in the database is due at those instants, and every test leaves its notices sent, canceled
// or given up, so the next test's pass finds only its own.
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { createNotificationActivities, updatePaymentUrlFrom } from '../../activities/notifications';
import { recordIssuedInvoice } from '../../db/invoices';
import { claimDueNotices, listNotices, markFailed, markSent, noticeRetryDelayMs, type OutboxNoticeRow } from '../../db/notifications';
import { savePaymentMethod } from '../../db/payment-methods';
import type { DatabasePool } from '../../db/pool';
import { upsertSubscription } from '../../db/subscriptions';
import { lookupRecurringPrice } from '../../domain/catalog';
import { money, type Currency } from '../../domain/money';
import { noticeIdempotencyKey, renderNotice, type NoticeContext } from '../../domain/notices';
import { createNoticeSender, type NoticeSender, type NoticeSenderOptions } from '../../notifications/sender';
import { startSmtpSink, type SmtpSink } from '../peers/smtp-sink';
import { createTestCustomer, testPool } from '../support/environment';

const FROM = 'Durable Billing <billing@durable-billing.test>';
const PUBLIC_BASE_URL = 'https://billing.durable-billing.test';

let pool: DatabasePool;
let sink: SmtpSink;
const senders: NoticeSender[] = [];
const activities = () => createNotificationActivities({ pool, updatePaymentUrl: updatePaymentUrlFrom(PUBLIC_BASE_URL) });

beforeAll(async () => {
  pool = await testPool();
  sink = await startSmtpSink({ port: 0 });
});
afterAll(async () => {
  await Promise.all(senders.map((sender) => sender.stop()));
  await sink?.close();
  await pool?.end();
});
beforeEach(() => sink.clear());
// A test that fails half-way leaves its notices pending; settle them so the next test's pass
// does not deliver them and fail too. Only this file dates notices in 2001.
afterEach(async () => {
  await pool.query(sql.unsafe`
    UPDATE notification_outbox SET canceled_at = now()
    WHERE send_after < '2002-01-01T00:00:00Z' AND sent_at IS NULL AND canceled_at IS NULL AND failed_at IS NULL`);
});

function senderFor(port: number, options: Partial<NoticeSenderOptions> = {}): NoticeSender {
  const sender = createNoticeSender({
    pool,
    transport: { host: '127.0.0.1', port, connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 10_000 },
    from: FROM,
    batchSize: 10,
    ...options,
  });
  senders.push(sender);
  return sender;
}

async function issueInvoice(customerId: string, amount: number, currency: Currency): Promise<string> {
  const id = `in_n${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  await recordIssuedInvoice(pool, {
    id,
    customerId,
    subscriptionId: null,
    currency,
    lines: [{ description: 'Community Access', periodStart: null, periodEnd: null, quantity: 1, unitAmount: amount, amount }],
    subtotal: amount,
    total: amount,
    issuedAt: '2001-01-01T00:00:00.000Z',
    dueAt: '2001-01-01T00:00:00.000Z',
    periodStart: null,
    periodEnd: null,
  });
  return id;
}

function updateLink(customerId: string, invoiceId: string | null): string {
  return invoiceId === null
    ? `${PUBLIC_BASE_URL}/pay/update?customer=${customerId}`
    : `${PUBLIC_BASE_URL}/pay/update?customer=${customerId}&invoice=${invoiceId}`;
}

const noReport = { claimed: 0, sent: 0, failed: 0, gaveUp: 0, lost: 0 };

describe('notices through the outbox', () => {
  it('writes a notice once however often the activity runs, and emails it once with the rendered subject', async () => {
    const customerId = await createTestCustomer(pool, 'Ada Lovelace');
    const invoiceId = await issueInvoice(customerId, 9_700, 'EUR');
    const key = noticeIdempotencyKey('payment_failed', invoiceId, 1);
    const context = {
      productName: 'Community Access',
      invoiceId,
      amount: money(9_700, 'EUR'),
      nextRetryAt: '2001-03-04T10:00:00.000Z',
      customerAction: 'none',
    } as const;
    const request = { idempotencyKey: key, kind: 'payment_failed', customerId, invoiceId, sendAfter: '2001-03-01T09:00:00.000Z', context } as const;

    // A retried activity, then two replays racing each other: exactly one insert wins.
    const first = await activities().enqueueNotice(request);
    const again = await Promise.all([activities().enqueueNotice(request), activities().enqueueNotice(request)]);
    expect([first, ...again]).toEqual([{ enqueued: true }, { enqueued: false }, { enqueued: false }]);

    const rendered = renderNotice('payment_failed', { ...context, customerName: 'Ada Lovelace', updatePaymentUrl: updateLink(customerId, invoiceId) });
    expect(rendered.subject).toBe('Your payment of €97.00 for Community Access did not go through');
    const [row, ...others] = await listNotices(pool, { invoiceId });
    expect(others).toEqual([]);
    expect(row).toEqual<OutboxNoticeRow>({
      idempotency_key: key,
      kind: 'payment_failed',
      recipient: `${customerId}@example.test`,
      subject: rendered.subject,
      body: rendered.text,
      customer_id: customerId,
      invoice_id: invoiceId,
      send_after: '2001-03-01T09:00:00.000Z',
      created_at: expect.any(String),
      sent_at: null,
      message_id: null,
      attempts: 0,
      last_error: null,
      canceled_at: null,
      failed_at: null,
    });
    expect(rendered.text).toBe(
      [
        'Hi Ada Lovelace,',
        '',
        'We could not collect €97.00 for Community Access.',
        'We will try again on March 4, 2001; there is nothing you need to do if your card is fine.',
        'You can also use a different card or payment method.',
        `Update your payment method: ${PUBLIC_BASE_URL}/pay/update?customer=${customerId}&invoice=${invoiceId}`,
        '',
        `Invoice ${invoiceId}`,
      ].join('\n'),
    );

    const sender = senderFor(sink.port);
    expect(await sender.sendDueNotices('2001-03-01T09:00:00.000Z')).toEqual({ ...noReport, claimed: 1, sent: 1 });
    expect(await sender.sendDueNotices('2001-03-01T09:05:00.000Z')).toEqual(noReport);
    // A replay after delivery changes nothing either.
    expect(await activities().enqueueNotice(request)).toEqual({ enqueued: false });
    expect(await sender.sendDueNotices('2001-03-01T09:10:00.000Z')).toEqual(noReport);

    const messageId = `<notice%3Apayment_failed%3A${invoiceId}%3A1@durable-billing.test>`;
    expect(sink.messages()).toHaveLength(1);
    expect(sink.messages()[0]).toMatchObject({
      envelope: { from: 'billing@durable-billing.test', to: [`${customerId}@example.test`] },
      from: FROM,
      to: `${customerId}@example.test`,
      subject: 'Your payment of €97.00 for Community Access did not go through',
      text: rendered.text,
      noticeKey: key,
      messageId,
    });
    expect(sink.messages()[0]?.headers['x-notice-kind']).toBe('payment_failed');
    expect(await listNotices(pool, { customerId })).toEqual([
      { ...row, sent_at: '2001-03-01T09:00:00.000Z', message_id: messageId, attempts: 1 },
    ]);
  });

  it('holds a notice until its send_after', async () => {
    const customerId = await createTestCustomer(pool, 'Grace Hopper');
    const invoiceId = await issueInvoice(customerId, 9_700, 'USD');
    const key = noticeIdempotencyKey('final_notice', invoiceId, 2);
    await activities().enqueueNotice({
      idempotencyKey: key,
      kind: 'final_notice',
      customerId,
      invoiceId,
      sendAfter: '2001-04-10T00:00:00.000Z',
      context: { productName: 'Community Access', invoiceId, amount: money(9_700, 'USD'), endsAt: '2001-04-13T00:00:00.000Z', endAction: 'cancel' },
    });
    const sender = senderFor(sink.port);

    expect(await sender.sendDueNotices('2001-04-01T00:00:00.000Z')).toEqual(noReport);
    expect(await sender.sendDueNotices('2001-04-09T23:59:59.999Z')).toEqual(noReport);
    expect(sink.messages()).toEqual([]);

    expect(await sender.sendDueNotices('2001-04-10T00:00:00.000Z')).toEqual({ ...noReport, claimed: 1, sent: 1 });
    expect(sink.messages().map((m) => [m.noticeKey, m.subject])).toEqual([
      [key, 'Final notice: Community Access ends on April 13, 2001 unless $97.00 is paid'],
    ]);
    expect((await listNotices(pool, { invoiceId }))[0]?.sent_at).toBe('2001-04-10T00:00:00.000Z');
  });

  it('backs off while the mail server is down and sends exactly once when it is back', async () => {
    const customerId = await createTestCustomer(pool, 'Katherine Johnson');
    const invoiceId = await issueInvoice(customerId, 150_000, 'USD');
    const key = noticeIdempotencyKey('action_required', invoiceId, 1);
    await activities().enqueueNotice({
      idempotencyKey: key,
      kind: 'action_required',
      customerId,
      invoiceId,
      sendAfter: '2001-05-01T08:00:00.000Z',
      context: { productName: 'Group Coaching', invoiceId, amount: money(150_000, 'USD'), customerAction: 'update_expired_card' },
    });
    // A mail server that was there and is gone: its port now refuses connections.
    const flaky = await startSmtpSink({ port: 0 });
    const port = flaky.port;
    await flaky.close();
    const sender = senderFor(port);

    expect(await sender.sendDueNotices('2001-05-01T08:00:00.000Z')).toEqual({ ...noReport, claimed: 1, failed: 1 });
    const afterFirst = (await listNotices(pool, { invoiceId }))[0];
    expect(afterFirst).toMatchObject({
      attempts: 1,
      last_error: `ESOCKET: connect ECONNREFUSED 127.0.0.1:${port}`,
      send_after: '2001-05-01T08:01:00.000Z', // 1 minute after the first failure
      sent_at: null,
      failed_at: null,
    });
    expect(await sender.sendDueNotices('2001-05-01T08:00:59.999Z')).toEqual(noReport);

    expect(await sender.sendDueNotices('2001-05-01T08:01:00.000Z')).toEqual({ ...noReport, claimed: 1, failed: 1 });
    expect((await listNotices(pool, { invoiceId }))[0]).toMatchObject({ attempts: 2, send_after: '2001-05-01T08:03:00.000Z' }); // then 2 minutes

    const back = await startSmtpSink({ port });
    try {
      expect(await sender.sendDueNotices('2001-05-01T08:02:59.999Z')).toEqual(noReport);
      expect(await sender.sendDueNotices('2001-05-01T08:03:00.000Z')).toEqual({ ...noReport, claimed: 1, sent: 1 });
      expect(await sender.sendDueNotices('2001-05-01T09:00:00.000Z')).toEqual(noReport);
      expect(back.messages().map((m) => [m.noticeKey, m.subject])).toEqual([
        [key, 'Action required: update your payment method for Group Coaching'],
      ]);
      expect((await listNotices(pool, { invoiceId }))[0]).toMatchObject({
        attempts: 3,
        last_error: null,
        sent_at: '2001-05-01T08:03:00.000Z',
        failed_at: null,
      });
    } finally {
      await back.close();
    }
  });

  it('doubles the wait after each failure up to an hour, and gives up after the last attempt, keeping the error', async () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(noticeRetryDelayMs)).toEqual(
      [1, 2, 4, 8, 16, 32, 60, 60, 60].map((minutes) => minutes * 60_000),
    );

    const customerId = await createTestCustomer(pool, 'Mary Jackson');
    const invoiceId = await issueInvoice(customerId, 9_700, 'USD');
    const key = noticeIdempotencyKey('payment_failed', invoiceId, 1);
    await activities().enqueueNotice({
      idempotencyKey: key,
      kind: 'payment_failed',
      customerId,
      invoiceId,
      sendAfter: '2001-05-02T08:00:00.000Z',
      context: { productName: 'Community Access', invoiceId, amount: money(9_700, 'USD') },
    });
    const gone = await startSmtpSink({ port: 0 });
    await gone.close();
    const sender = senderFor(gone.port, { maxAttempts: 2 });

    expect(await sender.sendDueNotices('2001-05-02T08:00:00.000Z')).toEqual({ ...noReport, claimed: 1, failed: 1 });
    expect(await sender.sendDueNotices('2001-05-02T08:01:00.000Z')).toEqual({ ...noReport, claimed: 1, gaveUp: 1 });
    expect(await sender.sendDueNotices('2001-05-03T00:00:00.000Z')).toEqual(noReport);
    expect((await listNotices(pool, { invoiceId }))[0]).toMatchObject({
      attempts: 2,
      last_error: `ESOCKET: connect ECONNREFUSED 127.0.0.1:${gone.port}`,
      send_after: '2001-05-02T08:01:00.000Z',
      failed_at: '2001-05-02T08:01:00.000Z',
      sent_at: null,
    });
  });

  it('lets another sender take a claimed notice only after the claim lease ran out, and the first one then records nothing', async () => {
    const customerId = await createTestCustomer(pool, 'Radia Perlman');
    const key = noticeIdempotencyKey('recovered', `in_lease${randomUUID().slice(0, 8)}`, 1);
    await activities().enqueueNotice({
      idempotencyKey: key,
      kind: 'recovered',
      customerId,
      invoiceId: null,
      sendAfter: '2001-05-20T10:00:00.000Z',
      context: { productName: 'Community Access', invoiceId: 'in_lease', amount: money(9_700, 'USD') },
    });
    // A sender claims it and dies before recording anything.
    const [dead, ...rest] = await claimDueNotices(pool, 10, '2001-05-20T10:00:00.000Z', 60_000);
    expect(rest).toEqual([]);
    expect(dead).toMatchObject({ idempotency_key: key, attempts: 0 });
    expect(await claimDueNotices(pool, 10, '2001-05-20T10:00:59.999Z', 60_000)).toEqual([]);
    const [taken] = await claimDueNotices(pool, 10, '2001-05-20T10:01:00.000Z', 60_000);
    expect(taken?.idempotency_key).toBe(key);
    expect(taken?.claim_token).not.toBe(dead?.claim_token);
    // The first claimant wakes up: its claim no longer counts, whatever it reports.
    expect(await markSent(pool, dead!, { messageId: '<late@durable-billing.test>', at: '2001-05-20T10:02:00.000Z' })).toBe(false);
    expect(await markFailed(pool, dead!, { error: 'late', at: '2001-05-20T10:02:00.000Z' })).toBeNull();
    expect(await markSent(pool, taken!, { messageId: '<taken@durable-billing.test>', at: '2001-05-20T10:01:00.000Z' })).toBe(true);
    expect(await listNotices(pool, { customerId })).toMatchObject([
      { idempotency_key: key, attempts: 1, sent_at: '2001-05-20T10:01:00.000Z', message_id: '<taken@durable-billing.test>', last_error: null },
    ]);
  });

  it('sends each notice once when two senders drain the outbox at the same time', async () => {
    const slow = await startSmtpSink({ port: 0, acceptDelayMs: 20 });
    try {
      const customerId = await createTestCustomer(pool, 'Dorothy Vaughan');
      const at = '2001-06-01T12:00:00.000Z';
      const keys: string[] = [];
      for (let i = 0; i < 24; i++) {
        const invoiceRef = `in_concurrent${i}`;
        const key = noticeIdempotencyKey('recovered', `${invoiceRef}x${randomUUID().slice(0, 8)}`, 1);
        keys.push(key);
        await activities().enqueueNotice({
          idempotencyKey: key,
          kind: 'recovered',
          customerId,
          invoiceId: null,
          sendAfter: at,
          context: { productName: 'Community Access', invoiceId: invoiceRef, amount: money(9_700, 'USD') },
        });
      }
      // Two processes: their own pools, their own SMTP connections.
      const otherPool = await testPool();
      try {
        const a = senderFor(slow.port, { batchSize: 4 });
        const b = createNoticeSender({ pool: otherPool, transport: { host: '127.0.0.1', port: slow.port }, from: FROM, batchSize: 4 });
        const drain = async (sender: NoticeSender) => {
          let sent = 0;
          for (;;) {
            const report = await sender.sendDueNotices(at);
            expect(report.failed + report.gaveUp + report.lost).toBe(0);
            if (report.claimed === 0) return sent;
            sent += report.sent;
          }
        };
        const [sentByA, sentByB] = await Promise.all([drain(a), drain(b)]);
        await b.stop();
        expect(sentByA + sentByB).toBe(24);
        // Each took a share (a batch takes 4 x 20 ms at the sink, so neither finishes alone).
        expect(sentByA).toBeGreaterThan(0);
        expect(sentByB).toBeGreaterThan(0);
      } finally {
        await otherPool.end();
      }
      expect(slow.messages().map((m) => m.noticeKey).sort()).toEqual([...keys].sort());
      const rows = await listNotices(pool, { customerId });
      expect(rows.map((r) => [r.idempotency_key, r.attempts, r.sent_at])).toEqual([...keys].sort().map((key) => [key, 1, at]));
    } finally {
      await slow.close();
    }
  });

  it('cancels the final notice of a dunning that recovered before it was due', async () => {
    const customerId = await createTestCustomer(pool, 'Annie Easley');
    const invoiceId = await issueInvoice(customerId, 9_700, 'USD');
    const context = { productName: 'Community Access', invoiceId, amount: money(9_700, 'USD') };
    const notify = (kind: 'payment_failed' | 'final_notice' | 'recovered', sendAfter: string, extra: Partial<NoticeContext> = {}) =>
      activities().enqueueNotice({
        idempotencyKey: noticeIdempotencyKey(kind, invoiceId, 1),
        kind,
        customerId,
        invoiceId,
        sendAfter,
        context: { ...context, ...extra },
      });
    await notify('payment_failed', '2001-07-01T00:00:00.000Z');
    await notify('final_notice', '2001-07-11T00:00:00.000Z', { endsAt: '2001-07-14T00:00:00.000Z', endAction: 'cancel' });
    const sender = senderFor(sink.port);
    expect(await sender.sendDueNotices('2001-07-01T00:00:00.000Z')).toEqual({ ...noReport, claimed: 1, sent: 1 });

    // Paid on July 3: the workflow drops what is still pending, then announces the recovery.
    expect(await activities().cancelPendingNotices({ invoiceId, kinds: ['final_notice'] })).toEqual({ canceled: 1 });
    expect(await activities().cancelPendingNotices({ invoiceId, kinds: ['final_notice'] })).toEqual({ canceled: 0 });
    await notify('recovered', '2001-07-03T00:00:00.000Z');

    expect(await sender.sendDueNotices('2001-07-03T00:00:00.000Z')).toEqual({ ...noReport, claimed: 1, sent: 1 });
    expect(await sender.sendDueNotices('2001-07-20T00:00:00.000Z')).toEqual(noReport);
    expect(sink.messages().map((m) => m.subject)).toEqual([
      'Your payment of $97.00 for Community Access did not go through',
      'Payment received: $97.00 for Community Access',
    ]);
    // Sent notices are history: cancelling everything left touches none of them.
    expect(await activities().cancelPendingNotices({ invoiceId })).toEqual({ canceled: 0 });
    const rows = await listNotices(pool, { invoiceId });
    expect(rows.map((r) => [r.kind, r.sent_at, r.canceled_at === null ? null : 'canceled'])).toEqual([
      ['payment_failed', '2001-07-01T00:00:00.000Z', null],
      ['recovered', '2001-07-03T00:00:00.000Z', null],
      ['final_notice', null, 'canceled'],
    ]);
  });

  it('enqueues one card-expiring notice per card and expiry month, 30 days before the card stops working', async () => {
    const withSubscription = await createTestCustomer(pool, 'Hedy Lamarr');
    const price = lookupRecurringPrice('community', 'month', 'USD');
    if (!price.ok) throw new Error(price.reason);
    await upsertSubscription(pool, {
      subscriptionId: `sub_n${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      customerId: withSubscription,
      plan: price.price,
      status: 'active',
      anchor: '2000-06-15T00:00:00.000Z',
      paymentMethodToken: 'pm_card_visa',
    });
    const save = (customerId: string, token: string, cardExpiresOn: string | null, role: 'default' | 'backup' = 'backup') =>
      savePaymentMethod(pool, { customerId, gateway: 'stripe', token, role, cardExpiresOn });
    // Valid through February 28, 2001: it stops working at 2001-03-01T00:00Z. February 2001 has
    // 28 days, so 28 days before is February 1 and 30 days before is January 30, 00:00 UTC.
    const visa = await save(withSubscription, 'pm_card_visa', '2001-02-28', 'default');
    // The gateway reported brand and last four digits for this one.
    await pool.query(sql.unsafe`UPDATE payment_methods SET card_brand = 'visa', card_last4 = '4242' WHERE id = ${visa.id}`);
    // Valid through March 2001: stops at 2001-04-01T00:00Z; 30 days before is March 2 (March has 31 days).
    const backup = await save(withSubscription, 'pm_card_mastercard', '2001-03-31');
    // Never: detached, already expired at the scan, no expiry known, expiring months later.
    const detached = await save(withSubscription, 'pm_card_amex', '2001-02-28');
    await pool.query(sql.unsafe`UPDATE payment_methods SET detached_at = now() WHERE id = ${detached.id}`);
    const noSubscription = await createTestCustomer(pool, 'Joan Clarke');
    await save(noSubscription, 'pm_card_expired', '2000-12-31', 'default');
    await save(noSubscription, 'pm_card_noexpiry', null);
    await save(noSubscription, 'pm_card_later', '2001-09-30');

    const scanAt = (now: string) => activities().scheduleCardExpiryNotices({ now });
    // January 29: the Visa's notice (January 30) is within the 7-day horizon, the Mastercard's
    // (March 2) is not. A second scan the same day finds it already enqueued.
    expect(await scanAt('2001-01-29T12:00:00.000Z')).toEqual({ enqueued: 1 });
    expect(await scanAt('2001-01-29T12:00:00.000Z')).toEqual({ enqueued: 0 });
    // February 27 (horizon to March 6): the Mastercard's turn; the Visa still works but was done.
    expect(await scanAt('2001-02-27T00:00:00.000Z')).toEqual({ enqueued: 1 });
    expect(await scanAt('2001-02-28T00:00:00.000Z')).toEqual({ enqueued: 0 });
    // March 10: the Visa stopped working, the Mastercard was done, the others are out of reach.
    expect(await scanAt('2001-03-10T00:00:00.000Z')).toEqual({ enqueued: 0 });

    const link = updateLink(withSubscription, null);
    const notices = await listNotices(pool, { customerId: withSubscription });
    expect(notices.map((n) => ({ key: n.idempotency_key, kind: n.kind, sendAfter: n.send_after, invoice: n.invoice_id, subject: n.subject, body: n.body }))).toEqual([
      {
        key: `notice:card_expiring_soon:payment-method-${visa.id}:2001-02`,
        kind: 'card_expiring_soon',
        sendAfter: '2001-01-30T00:00:00.000Z',
        invoice: null,
        subject: 'Your Visa card ending 4242 expires at the end of 02/2001',
        body: [
          'Hi Hedy Lamarr,',
          '',
          'The Visa card ending 4242 that pays for Community Access expires at the end of 02/2001.',
          'Please update your card so that your next payment goes through.',
          `Update your payment method: ${link}`,
        ].join('\n'),
      },
      {
        key: `notice:card_expiring_soon:payment-method-${backup.id}:2001-03`,
        kind: 'card_expiring_soon',
        sendAfter: '2001-03-02T00:00:00.000Z',
        invoice: null,
        // No brand or last four digits on record: the notice does not invent them.
        subject: 'Your saved card expires at the end of 03/2001',
        body: [
          'Hi Hedy Lamarr,',
          '',
          'The saved card that pays for Community Access expires at the end of 03/2001.',
          'Please update your card so that your next payment goes through.',
          `Update your payment method: ${link}`,
        ].join('\n'),
      },
    ]);
    expect(notices[0]?.subject).toBe(
      renderNotice('card_expiring_soon', {
        customerName: 'Hedy Lamarr',
        productName: 'Community Access',
        invoiceId: '',
        amount: money(price.price.unitAmount, 'USD'),
        updatePaymentUrl: link,
        card: { brand: 'Visa', last4: '4242', expMonth: 2, expYear: 2001 },
      }).subject,
    );
    expect(await listNotices(pool, { customerId: noSubscription })).toEqual([]);

    const sender = senderFor(sink.port);
    expect(await sender.sendDueNotices('2001-01-29T23:59:59.999Z')).toEqual(noReport);
    expect(await sender.sendDueNotices('2001-03-02T00:00:00.000Z')).toEqual({ ...noReport, claimed: 2, sent: 2 });
    expect(sink.messages().map((m) => m.subject)).toEqual([
      'Your Visa card ending 4242 expires at the end of 02/2001',
      'Your saved card expires at the end of 03/2001',
    ]);

    // No card number anywhere: not in the outbox, not on the wire (ids taken out first, they are
    // random hex that may hold digit runs), and the database refuses one where last4 belongs.
    const anyPan = /\d(?:[ -]?\d){11,18}/;
    const ids = new RegExp([withSubscription, noSubscription].join('|'), 'g');
    for (const n of notices) expect(`${n.subject}\n${n.body}`.replace(ids, '')).not.toMatch(anyPan);
    for (const m of sink.messages()) expect(m.raw.replace(ids, '')).not.toMatch(anyPan);
    await expect(pool.query(sql.unsafe`UPDATE payment_methods SET card_last4 = '4242424242424242' WHERE id = ${visa.id}`)).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/card_last4/) }, // PostgreSQL's own sentence names the constraint
    });
  });
});
