// Delivers the outbox by email. Each pass claims the due notices (a lease, so concurrent senders
// take different rows), sends each one over SMTP and records the outcome. The Message-ID and an
// X-Notice-Key header are derived from the notice's idempotency key: if a sender dies after the
// mail server accepted a message but before the row was marked sent, the copy sent after the
// lease runs out carries the same Message-ID, which mail clients and our own checks treat as
// the same message.
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { DatabasePool } from 'slonik';
import {
  DEFAULT_CLAIM_LEASE_MS,
  DEFAULT_MAX_DELIVERY_ATTEMPTS,
  claimDueNotices,
  markFailed,
  markSent,
  type ClaimedNotice,
} from '../db/notifications';

export interface NoticeSenderLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface NoticeSenderOptions {
  readonly pool: DatabasePool;
  /** SMTP options (the sender makes and closes its transporter) or a transporter made by the caller. */
  readonly transport: SMTPTransport.Options | Transporter;
  /** The From address, e.g. `Durable Billing <billing@example.com>`. */
  readonly from: string;
  readonly logger?: NoticeSenderLogger;
  /** Notices claimed per pass (default 20). */
  readonly batchSize?: number;
  /** Pause between passes of the loop when nothing more is due (default 5 s). */
  readonly pollMs?: number;
  readonly leaseMs?: number;
  /** Delivery attempts before a notice is given up (default 10). */
  readonly maxAttempts?: number;
  /** The right-hand side of each Message-ID; defaults to the domain of `from`. */
  readonly messageIdDomain?: string;
}

export interface NoticeSendReport {
  readonly claimed: number;
  readonly sent: number;
  /** Failed this time, to be tried again later. */
  readonly failed: number;
  /** Failed for the last allowed time: kept with the error, not tried again. */
  readonly gaveUp: number;
  /** Claims that ran out while sending (another sender owns the row now). */
  readonly lost: number;
}

export interface NoticeSender {
  /** One pass: claims the notices due at `now` (default: the clock) and delivers them. */
  sendDueNotices(now?: Date | string): Promise<NoticeSendReport>;
  /** Polls until stop(): a pass, then another at once if the batch was full, else after pollMs. */
  start(): void;
  /** Ends the loop after the pass in progress; closes the transporter if the sender made it. */
  stop(): Promise<void>;
}

export const DEFAULT_NOTICE_BATCH_SIZE = 20;
export const DEFAULT_NOTICE_POLL_MS = 5_000;

const silentLogger: NoticeSenderLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function isTransporter(transport: SMTPTransport.Options | Transporter): transport is Transporter {
  return typeof (transport as Transporter).sendMail === 'function';
}

/**
 * `<notice%3Apayment_failed%3Ain_1%3A2@example.com>`: the key percent-encoded into the characters a
 * Message-ID may hold, so it stays unique and readable.
 */
export function noticeMessageId(idempotencyKey: string, domain: string): string {
  const local = idempotencyKey.replace(/[^A-Za-z0-9_-]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
  return `<${local}@${domain}>`;
}

function domainOf(address: string): string {
  const match = /@([A-Za-z0-9.-]+)>?\s*$/.exec(address);
  return match?.[1] ?? 'localhost';
}

// Duck-typed rather than instanceof Error: errors from another realm (jest's sandbox, worker
// threads) fail instanceof but carry the same fields.
function errorText(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    const { code, message } = error as { code?: unknown; message: string };
    return typeof code === 'string' ? `${code}: ${message}` : message;
  }
  return String(error);
}

export function createNoticeSender(options: NoticeSenderOptions): NoticeSender {
  const { pool, from } = options;
  const logger = options.logger ?? silentLogger;
  const batchSize = options.batchSize ?? DEFAULT_NOTICE_BATCH_SIZE;
  const pollMs = options.pollMs ?? DEFAULT_NOTICE_POLL_MS;
  const leaseMs = options.leaseMs ?? DEFAULT_CLAIM_LEASE_MS;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_DELIVERY_ATTEMPTS;
  const messageIdDomain = options.messageIdDomain ?? domainOf(from);
  const ownsTransporter = !isTransporter(options.transport);
  const transporter: Transporter = isTransporter(options.transport) ? options.transport : nodemailer.createTransport(options.transport);

  async function deliver(notice: ClaimedNotice, at: string): Promise<keyof Omit<NoticeSendReport, 'claimed'>> {
    const messageId = noticeMessageId(notice.idempotency_key, messageIdDomain);
    try {
      await transporter.sendMail({
        from,
        to: notice.recipient,
        subject: notice.subject,
        text: notice.body,
        messageId,
        headers: { 'X-Notice-Key': notice.idempotency_key, 'X-Notice-Kind': notice.kind },
      });
    } catch (error) {
      const failure = await markFailed(pool, notice, { error: errorText(error), at, maxAttempts });
      if (failure === null) return 'lost';
      const details = { key: notice.idempotency_key, attempts: failure.attempts, error: errorText(error) };
      if (failure.retryAt === null) {
        logger.error(details, 'notice given up after its last delivery attempt');
        return 'gaveUp';
      }
      logger.warn({ ...details, retryAt: failure.retryAt }, 'notice delivery failed; will retry');
      return 'failed';
    }
    // Sent but the claim ran out: the row is someone else's now; they may send a second copy,
    // with the same Message-ID. A lease far above the SMTP timeouts makes this rare.
    if (!(await markSent(pool, notice, { messageId, at }))) return 'lost';
    logger.info({ key: notice.idempotency_key, kind: notice.kind, messageId }, 'notice sent');
    return 'sent';
  }

  async function sendDueNotices(now: Date | string = new Date()): Promise<NoticeSendReport> {
    const at = new Date(now).toISOString();
    const claimed = await claimDueNotices(pool, batchSize, at, leaseMs);
    const report = { claimed: claimed.length, sent: 0, failed: 0, gaveUp: 0, lost: 0 };
    // One at a time: a batch is small, and a struggling mail server is not helped by parallel sends.
    for (const notice of claimed) report[await deliver(notice, at)] += 1;
    return report;
  }

  let running = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  async function pollUntilStopped(): Promise<void> {
    while (running) {
      let full = false;
      try {
        full = (await sendDueNotices()).claimed === batchSize;
      } catch (error) {
        // The database may be briefly away; the next pass tries again.
        logger.error({ error: errorText(error) }, 'notice sending pass failed');
      }
      if (full || !running) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  }

  return {
    sendDueNotices,
    start() {
      if (running) return;
      running = true;
      loop = pollUntilStopped();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      loop = null;
      if (ownsTransporter) transporter.close();
    },
  };
}

export interface NoticeSenderConfig {
  readonly transport: SMTPTransport.Options;
  readonly from: string;
  readonly pollMs: number;
}

/**
 * SMTP settings from the environment: SMTP_HOST (unset: no sender, e.g. under the tests' worker
 * processes), SMTP_PORT (1025, the local sink), SMTP_SECURE (`true` for implicit TLS),
 * SMTP_USER/SMTP_PASS, SMTP_FROM, NOTICE_POLL_MS.
 */
export function noticeSenderConfigFromEnv(env: NodeJS.ProcessEnv = process.env): NoticeSenderConfig | null {
  const host = env.SMTP_HOST;
  if (!host) return null;
  const port = Number(env.SMTP_PORT ?? 1025);
  const pollMs = Number(env.NOTICE_POLL_MS ?? DEFAULT_NOTICE_POLL_MS);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid configuration: SMTP_PORT: ${env.SMTP_PORT}`);
  if (!Number.isInteger(pollMs) || pollMs < 1) throw new Error(`invalid configuration: NOTICE_POLL_MS: ${env.NOTICE_POLL_MS}`);
  return {
    transport: {
      host,
      port,
      secure: env.SMTP_SECURE === 'true',
      ...(env.SMTP_USER ? { auth: { user: env.SMTP_USER, pass: env.SMTP_PASS ?? '' } } : {}),
      // Far below the claim lease, so a hung server fails the attempt long before the lease ends.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 60_000,
    },
    from: env.SMTP_FROM ?? 'Durable Billing <billing@durable-billing.localhost>',
    pollMs,
  };
}
