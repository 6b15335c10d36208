/**
 * Delivery benchmarks (issue #4):
 *
 *   npx tsx bench/delivery.ts [--only a,b] [--n 5000] [--concurrency 16] [--rate 200] [--seconds 10] [--pg]
 *
 * (a) throughput: webhook deliveries/s through the queue against a raw undici POST loop with the
 *     same concurrency (the worker's 16) to the same local receiver, in the same run. The backlog
 *     (n ADD_ARTIFACT_TAG events, one automation, so n deliveries) is built first with
 *     TRIPLINE_ROLE=api, turned into delivery jobs by a TRIPLINE_ROLE=engine process, then a
 *     TRIPLINE_ROLE=worker process drains it: the rate is n / (last receipt − first receipt). The raw
 *     loop sends n requests of the same size with the same headers. Target: queue ≥ 0.5 × raw.
 * (b) latency: an all-in-one server; tags are added at a steady `rate` events/s for `seconds`; each
 *     delivery's latency is its receipt time minus the time the API acknowledged the write (the
 *     event is committed before the answer). Targets on SQLite: p50 < 50 ms, p99 < 250 ms.
 *
 * The receiver is a separate node process (so neither side shares an event loop with it); it
 * records the wall-clock receipt time of each request, compared with the bench's own wall clock
 * (performance.timeOrigin + now(), same machine).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, request, fetch as undiciFetch } from 'undici';
import { openStore } from '../src/store/db.js';
import {
  createPgDatabase,
  fmt,
  fmtMs,
  machine,
  PG_ADMIN_URL,
  percentiles,
  pgReachable,
  printTable,
  processCpuMs,
  ROOT,
  ratioLine,
  startBenchServer,
} from './lib.js';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'a,b' },
    n: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    pg: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string', default: '' },
  },
});
const ONLY = new Set(args.only!.split(','));
const N = Number(args.n);
const CONCURRENCY = Number(args.concurrency);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The receiver: a child process answering 200 at once, recording (tag → receipt time).

const RECEIVER_SRC = `
const http = require('node:http');
const { performance } = require('node:perf_hooks');
let times = new Map(); let count = 0; let first = 0; let last = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    // /count is cheap enough to poll; the per-tag times are read once at the end.
    const body = JSON.stringify(req.url === '/count' ? { count, first, last } : { count, first, last, times: Object.fromEntries(times) });
    if (req.url === '/reset') { times = new Map(); count = 0; first = 0; last = 0; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const t = performance.timeOrigin + performance.now();
    count++; if (!first) first = t; last = t;
    try { const tag = JSON.parse(Buffer.concat(chunks).toString()).tag; if (tag !== undefined) times.set(tag, t); } catch {}
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write('PORT ' + server.address().port + '\\n'));
`;

interface ReceiverStats {
  count: number;
  first: number;
  last: number;
  times: Record<string, number>;
}
type ReceiverCount = Omit<ReceiverStats, 'times'>;

async function startReceiverProcess() {
  const proc = spawn(process.execPath, ['-e', RECEIVER_SRC], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const get = async (path: string): Promise<ReceiverStats> => (await fetch(`${url}${path}`)).json() as any;
  return {
    url,
    stats: () => get('/stats'),
    count: () => get('/count') as Promise<ReceiverCount>,
    reset: () => get('/reset'),
    stop: () => {
      proc.kill();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Servers by role on one data dir / database

function serveRole(dataDir: string, role: string, env: Record<string, string>, apiKey: string) {
  // --cpu-prof <dir>: profile the worker process (a) and the server (b).
  const prof =
    role === 'worker' && args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']] : [];
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      ...prof,
      '--import',
      'tsx',
      join(ROOT, 'src/cli/index.ts'),
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        TRIPLINE_ADMIN_API_KEY: apiKey,
        TRIPLINE_LOG_LEVEL: 'warn',
        TRIPLINE_ROLE: role,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stderr!.on('data', (d) => {
    out += d;
  });
  const ready = new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      if (/is running/.test(out)) {
        const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (role !== 'api' || m) resolve(m?.[1] ?? '');
      }
    });
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code}:\n${out}`)));
  });
  return {
    ready,
    pid: proc.pid,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** At most 64 connections to the server: beyond that, requests wait in the client (not in connect). */
const apiAgent = new Agent({ connections: 64, connectTimeout: 60_000 });

function apiClient(url: string, apiKey: string) {
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await undiciFetch(`${url}/api/v1${path}`, {
      dispatcher: apiAgent,
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };
}

/** Team, project, a version to tag, a webhook integration and one automation on ADD_ARTIFACT_TAG. */
async function setup(api: ReturnType<typeof apiClient>, receiverUrl: string) {
  await api('POST', '/teams', { name: 'ml' });
  await api('POST', '/teams/ml/projects', { name: 'p' });
  await api('PUT', '/teams/ml/secrets/WH_TOKEN', { value: 'bench-token' });
  await api('PUT', '/teams/ml/secrets/WH_SIGNING', { value: 'bench-signing-secret' });
  const hook = await api('POST', '/teams/ml/integrations', {
    kind: 'webhook',
    name: 'receiver',
    url: `${receiverUrl}/hook`,
    accessTokenSecret: 'WH_TOKEN',
    secret: 'WH_SIGNING',
  });
  await api('POST', '/automations', {
    name: 'every-tag',
    scope: { type: 'PROJECT', team: 'ml', project: 'p' },
    event: { type: 'ADD_ARTIFACT_TAG' },
    rateLimitPerHour: 0,
    action: {
      type: 'GENERIC_WEBHOOK',
      integrationId: hook.id,
      payload: { tag: '${tag}', collection: '${artifact_collection_name}', version: '${artifact_version}' },
    },
  });
  await api('POST', '/teams/ml/projects/p/artifacts', { collection: 'c', type: 'model' });
}

async function database(): Promise<{ url?: string; drop: () => Promise<void> }> {
  if (!args.pg) return { drop: async () => {} };
  if (!(await pgReachable())) throw new Error(`--pg: PostgreSQL not reachable at ${PG_ADMIN_URL}`);
  return createPgDatabase();
}

// ---------------------------------------------------------------------------------------------
// (a) throughput

async function throughput() {
  const receiver = await startReceiverProcess();
  const dataDir = mkdtempSync(join(tmpdir(), 'tripline-bench-delivery-'));
  const apiKey = `bench-${randomBytes(8).toString('hex')}`;
  const db = await database();
  const env: Record<string, string> = {
    TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
    TRIPLINE_DATABASE_URL: db.url ?? '',
  };
  try {
    // 1. The backlog: n tag events, no engine running.
    const apiProc = serveRole(dataDir, 'api', env, apiKey);
    const api = apiClient(await apiProc.ready, apiKey);
    await setup(api, receiver.url);
    const perRequest = 100;
    for (let i = 0; i < N; i += perRequest) {
      const tags = Array.from({ length: Math.min(perRequest, N - i) }, (_, j) => `t${i + j}`);
      await api('POST', '/teams/ml/projects/p/artifacts', {
        collection: `b${i / perRequest}`,
        type: 'model',
        tags,
      });
    }
    await apiProc.stop();

    // 2. The engine turns them into n delivery jobs.
    const store = await openStore({ dataDir, databaseUrl: db.url });
    const engine = serveRole(dataDir, 'engine', env, apiKey);
    await engine.ready;
    const jobs = async () =>
      Number(
        (
          await store.db
            .selectFrom('deliveries')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    while ((await jobs()) < N) await sleep(50);
    await engine.stop();

    // 3. A worker drains the queue.
    const worker = serveRole(dataDir, 'worker', env, apiKey);
    await worker.ready;
    const cpu0 = processCpuMs(worker.pid) ?? Number.NaN;
    let s = await receiver.count();
    while (s.count < N) {
      await sleep(20);
      s = await receiver.count();
    }
    const queueMs = s.last - s.first;
    // CPU from the worker's start-up line to the last receipt (it may have begun before the line).
    const queueCpuMs = (processCpuMs(worker.pid) ?? Number.NaN) - cpu0;
    await worker.stop();
    const attempts = Number(
      (
        await store.db
          .selectFrom('delivery_attempts')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('status', '=', 200)
          .executeTakeFirstOrThrow()
      ).n,
    );
    await store.close();
    if (attempts !== N) throw new Error(`expected ${N} successful attempts, found ${attempts}`);

    // 4. The raw loop: the same number of requests, same body size and headers, same concurrency.
    await receiver.reset();
    const agent = new Agent({ connections: CONCURRENCY });
    const body = (i: number) =>
      JSON.stringify({ tag: `r${i}`, collection: `b${Math.floor(i / 100)}`, version: 'v0' });
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Tripline/0.1.0',
      authorization: 'Bearer bench-token',
      'x-wandb-signature': 'x'.repeat(44),
      'webhook-id': randomBytes(18).toString('hex'),
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': `v1,${'x'.repeat(44)}`,
    };
    let next = 0;
    const rawCpu0 = process.cpuUsage();
    const t0 = wall();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < N) {
          const i = next++;
          const res = await request(`${receiver.url}/hook`, {
            method: 'POST',
            headers,
            body: body(i),
            dispatcher: agent,
          });
          await res.body.text();
        }
      }),
    );
    const rawMs = wall() - t0;
    const rawCpu = process.cpuUsage(rawCpu0);
    const rawCpuMs = (rawCpu.user + rawCpu.system) / 1000;
    await agent.close();
    const queueRate = (N / queueMs) * 1000;
    const rawRate = (N / rawMs) * 1000;
    printTable(
      `(a) delivery throughput, ${N} webhooks, concurrency ${CONCURRENCY}, ${args.pg ? 'PostgreSQL' : 'SQLite'}`,
      ['path', 'time', 'deliveries/s', 'CPU per delivery'],
      [
        [
          'queue: worker process (claim, send, record)',
          fmtMs(queueMs),
          fmt(queueRate),
          `${fmt((queueCpuMs / N) * 1000)} µs`,
        ],
        ['raw undici POST loop', fmtMs(rawMs), fmt(rawRate), `${fmt((rawCpuMs / N) * 1000)} µs`],
      ],
    );
    ratioLine('queue vs raw', queueRate, rawRate, 50);
    return { queueRate, rawRate };
  } finally {
    receiver.stop();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// (b) latency at a steady rate

async function latency() {
  const receiver = await startReceiverProcess();
  const db = await database();
  const server = await startBenchServer({
    databaseUrl: db.url,
    nodeArgs: args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']] : [],
    env: { TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' },
  });
  try {
    const api = apiClient(server.url, server.apiKey);
    await setup(api, receiver.url);
    // Warm-up: a few deliveries, not measured.
    for (let i = 0; i < 20; i++)
      await api('POST', '/teams/ml/projects/p/artifacts/c/v0/tags', { tag: `w${i}` });
    while ((await receiver.count()).count < 20) await sleep(20);
    await receiver.reset();

    const total = RATE * SECONDS;
    const sent = new Map<string, number>();
    const acked = new Map<string, number>();
    const inflight: Promise<unknown>[] = [];
    const t0 = wall();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - wall();
      if (wait > 1) await sleep(wait);
      const tag = `l${i}`;
      sent.set(tag, wall());
      inflight.push(
        api('POST', '/teams/ml/projects/p/artifacts/c/v0/tags', { tag }).then(() => acked.set(tag, wall())),
      );
    }
    await Promise.all(inflight);
    const offeredS = (wall() - t0) / 1000;
    const deadline = wall() + 30_000;
    while ((await receiver.count()).count < total && wall() < deadline) await sleep(50);
    const s = await receiver.stats();
    const fromAck: number[] = [];
    const fromSend: number[] = [];
    for (const [tag, t] of Object.entries(s.times)) {
      if (!acked.has(tag)) continue;
      fromAck.push(t - acked.get(tag)!);
      fromSend.push(t - sent.get(tag)!);
    }
    const a = percentiles(fromAck, [50, 90, 99, 100]);
    const b = percentiles(fromSend, [50, 90, 99, 100]);
    printTable(
      `(b) event → receipt latency at ${RATE} events/s for ${SECONDS} s (${fmt(total / offeredS)} offered/s), ` +
        `${s.count}/${total} received, ${args.pg ? 'PostgreSQL' : 'SQLite'}`,
      ['measured from', 'p50', 'p90', 'p99', 'max'],
      [
        ['API ack (event committed)', fmtMs(a.p50), fmtMs(a.p90), fmtMs(a.p99), fmtMs(a.p100)],
        ['request sent', fmtMs(b.p50), fmtMs(b.p90), fmtMs(b.p99), fmtMs(b.p100)],
      ],
    );
    // Where the time goes: ack → execution recorded by the engine → attempt recorded by the worker.
    const engineLag: number[] = [];
    const workerLag: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api(
        'GET',
        `/teams/ml/executions?project=p&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      for (const e of page.items) {
        const tag = e.event.details.tag as string;
        if (!acked.has(tag) || e.attempts.length === 0) continue;
        engineLag.push(Date.parse(e.triggeredAt) - acked.get(tag)!);
        workerLag.push(Date.parse(e.attempts[0].at) - Date.parse(e.triggeredAt));
      }
      cursor = page.nextCursor;
    } while (cursor);
    const el = percentiles(engineLag, [50, 99]);
    const wl = percentiles(workerLag, [50, 99]);
    console.log(
      `  breakdown: ack → execution recorded p50 ${fmtMs(el.p50)} p99 ${fmtMs(el.p99)}; ` +
        `execution → attempt recorded p50 ${fmtMs(wl.p50)} p99 ${fmtMs(wl.p99)}`,
    );
    const ok = a.p50 < 50 && a.p99 < 250 && s.count === total;
    console.log(
      `targets (SQLite): p50 < 50 ms, p99 < 250 ms, none lost — ${ok ? 'OK' : 'MISSED'}` +
        (args.pg ? ' (informational on PostgreSQL)' : ''),
    );
    return { ...a, received: s.count, total };
  } finally {
    await server.stop();
    receiver.stop();
    await db.drop();
  }
}

console.log(`machine: ${machine()}`);
if (ONLY.has('a')) await throughput();
if (ONLY.has('b')) await latency();
await apiAgent.close();
