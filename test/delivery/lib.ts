/**
 * Shared pieces of the delivery end-to-end tests: a scriptable HTTP receiver, a fake Slack Web API,
 * and small helpers around the real server process.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { client } from '../helpers/server.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Hit {
  /** Date.now() when the request body was complete. */
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  port: number;
  hits: Hit[];
  /** Requests whose body arrived and that have not been answered yet. */
  open(): number;
  hitsTo(prefix: string): Hit[];
  close(): Promise<void>;
}

/**
 * A local receiver scripted by its path, so each integration's URL chooses its behaviour:
 *
 * - `/ok/…`: 200 `{"received":true}`
 * - `/slow/<ms>/…`: 200 after `ms`
 * - `/status/<code>/…`: always `code`
 * - `/fail/<n>/<code>/…`: `code` for the first n requests to that exact path, then 200; a query
 *   `?ra=<s>` adds `Retry-After: s` to the failures
 * - `/hang/<n>/…`: the first n requests are never answered, then 200
 * - `/reset/<n>/…`: the first n connections are reset, then 200
 * - `/redirect/…`: 302 to `http://127.0.0.1:<port>/ok/redirected`
 * - `/echo/…`: 200 with the request echoed back, like httpbin's /anything (body and headers)
 */
export async function startReceiver(): Promise<Receiver> {
  const hits: Hit[] = [];
  const counts = new Map<string, number>();
  let open = 0;
  let port = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      hits.push({
        at: Date.now(),
        method: req.method ?? '',
        path,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const n = (counts.get(path) ?? 0) + 1;
      counts.set(path, n);
      const parts = path.split('/').filter(Boolean);
      open++;
      let done = false;
      const answer = (status: number, body = '', headers: Record<string, string> = {}) => {
        if (done) return;
        done = true;
        open--;
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
      };
      res.on('close', () => {
        if (!done) {
          done = true;
          open--;
        }
      });
      const ok = () => answer(200, '{"received":true}');
      switch (parts[0]) {
        case 'ok':
          return ok();
        case 'slow':
          setTimeout(ok, Number(parts[1]));
          return;
        case 'status':
          return answer(Number(parts[1]), `{"error":"status ${parts[1]}"}`);
        case 'fail': {
          if (n > Number(parts[1])) return ok();
          const ra = url.searchParams.get('ra');
          return answer(Number(parts[2]), '{"error":"not now"}', ra ? { 'retry-after': ra } : {});
        }
        case 'hang':
          if (n > Number(parts[1])) return ok();
          return; // never answered; the client times out
        case 'reset':
          if (n > Number(parts[1])) return ok();
          done = true;
          open--;
          req.socket.resetAndDestroy();
          return;
        case 'echo':
          return answer(
            200,
            JSON.stringify({ data: Buffer.concat(chunks).toString('utf8'), headers: req.headers }),
          );
        case 'redirect':
          return answer(302, '', { location: `http://127.0.0.1:${port}/ok/redirected` });
        default:
          return answer(404, '{"error":"no such path"}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    open: () => open,
    hitsTo: (prefix) => hits.filter((h) => h.path.startsWith(prefix)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SlackPost {
  at: number;
  channel: string;
  text: string;
  blocks: unknown;
  attachments: unknown;
  authorization: string | undefined;
}

export interface FakeSlack {
  /** The value for TRIPLINE_SLACK_API_URL. */
  apiUrl: string;
  accepted: SlackPost[];
  /** Posts answered 429 because they came within a second of the previous one to that channel. */
  limited: SlackPost[];
  rejected: SlackPost[];
  close(): Promise<void>;
}

/**
 * `POST /api/chat.postMessage` as Slack answers it: Bearer token check (`invalid_auth` otherwise),
 * at most one message per second per channel (429 with `Retry-After: 1` beyond that).
 */
export async function startFakeSlack(token: string): Promise<FakeSlack> {
  const accepted: SlackPost[] = [];
  const limited: SlackPost[] = [];
  const rejected: SlackPost[] = [];
  const last = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      if (req.method !== 'POST' || req.url?.split('?')[0] !== '/api/chat.postMessage')
        return json(404, { ok: false, error: 'unknown_method' });
      // @slack/web-api posts form-encoded fields with JSON in blocks/attachments; accept JSON too.
      let fields: Record<string, unknown>;
      if ((req.headers['content-type'] ?? '').includes('application/json')) fields = JSON.parse(raw);
      else fields = Object.fromEntries(new URLSearchParams(raw));
      const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
      const post: SlackPost = {
        at: Date.now(),
        channel: String(fields.channel ?? ''),
        text: String(fields.text ?? ''),
        blocks: fields.blocks === undefined ? undefined : parse(fields.blocks),
        attachments: fields.attachments === undefined ? undefined : parse(fields.attachments),
        authorization: req.headers.authorization,
      };
      if (req.headers.authorization !== `Bearer ${token}`) {
        rejected.push(post);
        return json(200, { ok: false, error: 'invalid_auth' });
      }
      const prev = last.get(post.channel);
      if (prev !== undefined && post.at - prev < 1000) {
        limited.push(post);
        return json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' });
      }
      last.set(post.channel, post.at);
      accepted.push(post);
      return json(200, { ok: true, channel: post.channel, ts: `${post.at / 1000}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    accepted,
    limited,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type Api = ReturnType<typeof client>;

/** The client, plus `ok` that throws with the answer on any non-2xx. */
export function apiOf(url: string, key: string) {
  const api = client(url, key);
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await api(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  return { api, ok };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Every execution of an automation (all pages). */
export async function executionsOf(api: Api, automationId: string): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: any } = await api(
      'GET',
      `/automations/${automationId}/executions?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    if (r.status !== 200) throw new Error(`executions: ${r.status} ${JSON.stringify(r.body)}`);
    out.push(...r.body.items);
    cursor = r.body.nextCursor;
  } while (cursor);
  return out;
}

/** Waits until the automation has `n` executions, all settled (FINISHED or FAILED). */
export async function settled(api: Api, automationId: string, n = 1, timeoutMs = 20_000) {
  return waitFor(
    `${n} settled execution(s) of ${automationId}`,
    async () => {
      const ex = await executionsOf(api, automationId);
      return ex.length >= n && ex.every((e) => e.state !== 'PENDING') ? ex : undefined;
    },
    timeoutMs,
    50,
  );
}
