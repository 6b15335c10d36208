import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import { AppError, ValidationError } from '../model/errors.js';
import type { Actor } from '../tracking/context.js';

export type Env = { Variables: { actor: Actor } };

/** The node request behind a @hono/node-server request (undefined under app.request() in tests). */
const incomingOf = (c: Context): IncomingMessage | undefined =>
  (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;

/**
 * Hono's bodyLimit, without its cost on every request: reading `c.req.raw.body` and its headers
 * makes @hono/node-server build the full web Request (Headers, AbortController, a ReadableStream
 * over the socket). The common cases are answered from the node request: no body (GET, HEAD,
 * TRACE) and a Content-Length without Transfer-Encoding. Anything else goes to Hono's, which
 * counts the bytes as they arrive.
 */
export function bodyLimit(opts: {
  maxSize: number;
  onError: (c: Context) => Response | Promise<Response>;
}): MiddlewareHandler {
  const full = honoBodyLimit(opts);
  return async (c, next) => {
    const incoming = incomingOf(c);
    if (incoming?.headers) {
      const method = incoming.method;
      if (method === 'GET' || method === 'HEAD' || method === 'TRACE') return next();
      const length = incoming.headers['content-length'];
      if (length !== undefined && incoming.headers['transfer-encoding'] === undefined) {
        return Number.parseInt(length, 10) > opts.maxSize ? opts.onError(c) : next();
      }
    }
    return full(c, next);
  };
}

/** Largest request body readJson reads from the socket itself (the app's bodyLimit checks first). */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
const utf8 = new TextDecoder(); // as Request.text(): a BOM is dropped, bad bytes become U+FFFD

/**
 * The node request, when nothing has started to read its body: @hono/node-server has not built the
 * web Request yet (it would read the socket through a web stream) and no bytes have been read.
 */
function unreadIncoming(c: Context): IncomingMessage | undefined {
  const incoming = incomingOf(c);
  if (!incoming || typeof incoming.on !== 'function' || 'rawBody' in incoming) return undefined;
  if (incoming.readableDidRead || incoming.readableFlowing !== null || incoming.readableEnded)
    return undefined;
  // @hono/node-server's lightweight request keeps the node request under a symbol and the web
  // Request, once built, under another. Unknown shape (another version): take the web way.
  const symbols = Object.getOwnPropertySymbols(c.req.raw).map((s) => s.description);
  if (!symbols.includes('incomingKey') || symbols.includes('requestCache')) return undefined;
  return incoming;
}

function readBody(incoming: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      incoming.off('data', onData);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_JSON_BYTES) {
        finish(new AppError(413, 'payload_too_large', `body exceeds ${MAX_JSON_BYTES} bytes`));
      } else chunks.push(chunk);
    };
    incoming.on('data', onData);
    incoming.once('end', () => finish());
    incoming.once('error', (err) => finish(err));
    incoming.once('close', () => finish(new Error('the request was closed before its body ended')));
  });
}

/** The body as text: straight from the socket when possible (see unreadIncoming), else via Hono. */
async function bodyText(c: Context): Promise<string> {
  const incoming = unreadIncoming(c);
  if (!incoming) return c.req.text();
  const body = await readBody(incoming);
  // Should anything read the body again through c.req, @hono/node-server takes it from here.
  (incoming as IncomingMessage & { rawBody?: Buffer }).rawBody = body;
  return utf8.decode(body);
}

/** Parses a JSON object body; malformed JSON or a non-object is a 400 that names the problem. */
export async function readJson(c: Context): Promise<Record<string, unknown>> {
  // Lenient about Content-Type (curl -d sends form-encoded): the body itself must be JSON.
  const text = await bodyText(c);
  if (text.trim() === '') return {};
  return parseJsonObject(text);
}

/** A request body that must be one JSON object; anything else is a 400 saying what is wrong. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

export function page(c: Context): { cursor?: string; limit: number } {
  const raw = c.req.query('limit');
  let limit = 100;
  if (raw !== undefined) {
    limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ValidationError('limit must be an integer from 1 to 1000', 'limit');
    }
  }
  return { cursor: c.req.query('cursor') || undefined, limit };
}

export const actorOf = (c: Context<Env>): Actor => c.get('actor');
