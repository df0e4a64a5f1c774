// A capturing SMTP server: accepts every message (no auth, no TLS) and keeps it in memory, with
// the headers and the plain-text body decoded, so tests can assert what the notice sender really
// put on the wire. Messages are expected as nodemailer writes a text-only email: one part,
// quoted-printable / base64 / 7bit, RFC 2047 encoded words in headers (no multipart parsing).
//
// In-process (tests): startSmtpSink({ port: 0 }) -> { port, messages(), clear(), close() }.
// Standalone (npm start), listening on SMTP_SINK_PORT (1025), with the captured messages as JSON
// on SMTP_SINK_HTTP_PORT (1080): GET /messages, DELETE /messages.
//   node -r @swc-node/register test/peers/smtp-sink.ts [--port 1025] [--http-port 1080]
import http from 'node:http';
import { SMTPServer } from 'smtp-server';
import { argumentValue, runPeerScript } from './peer-script';

export interface CapturedMessage {
  /** What the client said in MAIL FROM / RCPT TO. */
  readonly envelope: { readonly from: string | null; readonly to: readonly string[] };
  readonly messageId: string | null;
  /** The X-Notice-Key header: the outbox idempotency key the message was sent for. */
  readonly noticeKey: string | null;
  readonly from: string | null;
  readonly to: string | null;
  readonly subject: string | null;
  /** The decoded body, with line breaks as \n. */
  readonly text: string;
  /** Decoded header values by lower-case name (the last one when a header repeats). */
  readonly headers: Readonly<Record<string, string>>;
  readonly raw: string;
  readonly receivedAt: string;
}

export interface SmtpSinkOptions {
  /** 0 picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** Holds each message this long before accepting it: a slow mail server, for concurrency tests. */
  readonly acceptDelayMs?: number;
}

export interface SmtpSink {
  readonly port: number;
  messages(): readonly CapturedMessage[];
  clear(): void;
  close(): Promise<void>;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const captured: CapturedMessage[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    // Closing should look like a mail server going away, not wait 30 s for idle clients.
    closeTimeout: 100,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error: Error) => callback(error));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
          to: session.envelope.rcptTo.map((address) => address.address),
        };
        const accept = () => {
          captured.push(parseMessage(raw, envelope));
          callback();
        };
        if (options.acceptDelayMs) setTimeout(accept, options.acceptDelayMs);
        else accept();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new Error('smtp-sink did not get a TCP address');
  return {
    port: address.port,
    messages: () => [...captured],
    clear: () => {
      captured.length = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------------------------
// Minimal message parsing

function parseMessage(raw: Buffer, envelope: CapturedMessage['envelope']): CapturedMessage {
  const text = raw.toString('latin1'); // byte-preserving; bodies are decoded from bytes below
  const split = text.search(/\r?\n\r?\n/);
  const headerBlock = split === -1 ? text : text.slice(0, split);
  // The line break before the terminating dot belongs to SMTP's framing, not to the body.
  const bodyBlock = split === -1 ? '' : text.slice(split).replace(/^\r?\n\r?\n/, '').replace(/\r?\n$/, '');
  const headers: Record<string, string> = {};
  for (const line of headerBlock.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = decodeHeaderValue(line.slice(colon + 1).trim());
  }
  return {
    envelope,
    messageId: headers['message-id'] ?? null,
    noticeKey: headers['x-notice-key'] ?? null,
    from: headers.from ?? null,
    to: headers.to ?? null,
    subject: headers.subject ?? null,
    text: decodeBody(bodyBlock, headers['content-transfer-encoding'] ?? '7bit'),
    headers,
    raw: raw.toString('utf8'),
    receivedAt: new Date().toISOString(),
  };
}

const ENCODED_WORD = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;

/** RFC 2047: adjacent encoded words join without the space between them; bytes join before decoding. */
function decodeHeaderValue(value: string): string {
  const latin1 = Buffer.from(value, 'latin1').toString('utf8'); // raw 8-bit (SMTPUTF8) headers
  if (!latin1.includes('=?')) return latin1;
  const joined = latin1.replace(/(\?=)\s+(?==\?)/g, '$1');
  let out = '';
  let bytes: number[] = [];
  let last = 0;
  for (const match of joined.matchAll(ENCODED_WORD)) {
    const index = match.index ?? 0;
    if (index > last) {
      out += Buffer.from(bytes).toString('utf8') + joined.slice(last, index);
      bytes = [];
    }
    const [, , encoding, payload = ''] = match;
    if (encoding?.toUpperCase() === 'B') bytes.push(...Buffer.from(payload, 'base64'));
    else bytes.push(...quotedPrintableBytes(payload.replace(/_/g, ' ')));
    last = index + match[0].length;
  }
  return out + Buffer.from(bytes).toString('utf8') + joined.slice(last);
}

function quotedPrintableBytes(text: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i) & 0xff);
    }
  }
  return bytes;
}

function decodeBody(body: string, transferEncoding: string): string {
  let bytes: Buffer;
  switch (transferEncoding.toLowerCase()) {
    case 'quoted-printable':
      bytes = Buffer.from(quotedPrintableBytes(body.replace(/=\r?\n/g, '')));
      break;
    case 'base64':
      bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64');
      break;
    default:
      bytes = Buffer.from(body, 'latin1');
  }
  return bytes.toString('utf8').replace(/\r\n/g, '\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

if (require.main === module) {
  runPeerScript('smtp-sink', async (args) => {
    const port = Number(argumentValue(args, '--port') ?? process.env.SMTP_SINK_PORT ?? 1025);
    const httpPort = Number(argumentValue(args, '--http-port') ?? process.env.SMTP_SINK_HTTP_PORT ?? 1080);
    const host = argumentValue(args, '--host') ?? '127.0.0.1';
    const sink = await startSmtpSink({ port, host });
    const api = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://sink').pathname;
      if (path === '/messages' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(sink.messages(), null, 2));
      } else if (path === '/messages' && req.method === 'DELETE') {
        sink.clear();
        res.writeHead(204).end();
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'GET /messages or DELETE /messages' }));
      }
    });
    await new Promise<void>((resolve, reject) => {
      api.once('error', reject);
      api.listen(httpPort, host, () => resolve());
    });
    return {
      ready: `with SMTP on ${host}:${sink.port}, captured messages at http://${host}:${httpPort}/messages`,
      close: async () => {
        api.close();
        api.closeAllConnections();
        await sink.close();
      },
    };
  });
}
