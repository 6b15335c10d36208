/**
 * Engine benchmarks (issue #3):
 *
 *   npm run bench -- engine [--db sqlite,postgres] [--only a,b,c] [--events 20000] [--rows 20000]
 *                           [--batch 500] [--rounds 3] [--samples 300]
 *   (or npx tsx bench/engine.ts …)
 *
 * (a) matching throughput: the engine drains the same backlog of events (all in one project) with
 *     1 automation vs 10,000 automations spread over 1,000 projects (the same single automation
 *     matches; the 9,999 others watch other projects, or the same project with filters that miss).
 *     In-process, one warm engine per database, rounds alternating. Target: ratio ≥ 0.5.
 * (b) metric ingest through REST (`POST …/runs/{run}/history`, `batch` rows of 10 metrics per
 *     request) into a run whose project has 10 run-metric automations (threshold, change, z-score)
 *     vs a run in a project with none; one server with the engine running (`TRIPLINE_ROLE=all`),
 *     rounds A B A B …. Two figures: rows/s acknowledged, and rows/s until the engine has also
 *     processed them. Target ≥ 0.7.
 * (c) latency from a committed event to its execution: p50/p99 of executions.triggered_at −
 *     events.created_at, and of the client's ack → execution row visible (polled every 1 ms).
 *
 * Each database gets fresh data dirs / scratch PostgreSQL databases (bench/lib.ts); PostgreSQL is
 * skipped when it is not reachable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createAutomation } from '../src/automations/commands.js';
import { startEngine } from '../src/engine/loop.js';
import { openStore, type Store } from '../src/store/db.js';
import { createArtifactVersion } from '../src/tracking/artifacts.js';
import type { Actor } from '../src/tracking/context.js';
import { createProject, getProject } from '../src/tracking/projects.js';
import { createUser } from '../src/tracking/users.js';
import {
  type BenchServer,
  createPgDatabase,
  fmt,
  machine,
  percentiles,
  pgReachable,
  printTable,
  ratioLine,
  startBenchServer,
} from './lib.js';

const { values: args } = parseArgs({
  // Options meant for other benchmarks (the runner passes them to every one) are ignored.
  strict: false,
  options: {
    db: { type: 'string', default: 'sqlite,postgres' },
    only: { type: 'string', default: 'a,b,c' },
    events: { type: 'string', default: '20000' },
    rows: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '500' },
    samples: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
  },
});
const ONLY = new Set(String(args.only).split(','));
const EVENTS = Number(args.events);
const ROWS = Number(args.rows);
const BATCH = Number(args.batch);
const SAMPLES = Number(args.samples);
const ROUNDS = Number(args.rounds);
type Dialect = 'sqlite' | 'postgres';
let DIALECT: Dialect = 'sqlite';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------
// Environments: a data dir, and a scratch PostgreSQL database for the postgres runs.

interface Env {
  dataDir: string;
  databaseUrl?: string;
  dispose(): Promise<void>;
}

async function newEnv(): Promise<Env> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tripline-bench-engine-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (DIALECT === 'sqlite') return { dataDir, dispose: async () => removeDir() };
  const db = await createPgDatabase('tripline_bench_engine');
  return {
    dataDir,
    databaseUrl: db.url,
    async dispose() {
      await db.drop();
      removeDir();
    },
  };
}

/** A server with the engine on `env`'s database, and a store of our own on the same database. */
async function serverOn(env: Env): Promise<{ server: BenchServer; store: Store }> {
  const server = await startBenchServer({ databaseUrl: env.databaseUrl, env: { TRIPLINE_ROLE: 'all' } });
  const store = await openStore({ dataDir: server.dataDir, databaseUrl: env.databaseUrl });
  return { server, store };
}

async function cursorOf(store: Store): Promise<number> {
  const r = await store.db
    .selectFrom('engine_cursors')
    .select('position')
    .where('name', '=', 'engine')
    .executeTakeFirst();
  return Number(r?.position ?? 0);
}

async function lastPosition(store: Store): Promise<number> {
  const r = await store.db
    .selectFrom('events')
    .select((eb) => eb.fn.max('position').as('m'))
    .executeTakeFirst();
  return Number(r?.m ?? 0);
}

async function waitForCursor(store: Store, position: number, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  while ((await cursorOf(store)) < position) {
    if (Date.now() > deadline) throw new Error(`engine did not reach position ${position}`);
    await sleep(2);
  }
}

// ---------------------------------------------------------------------------------------------------
// (a) matching throughput: 1 vs 10,000 automations.

const silent = pino({ level: 'silent' });
const TAGS_PER_VERSION = 49;

interface PreparedA {
  automations: number;
  events: number;
  setupSeconds: number;
  /** Logs a new backlog of `events` events, then drains it (timed). */
  drain(): Promise<{ seconds: number; cpuSeconds: number; events: number; executions: number }>;
  dispose(): Promise<void>;
}

async function prepareA(totalAutomations: number): Promise<PreparedA> {
  const env = await newEnv();
  const store = await openStore({ dataDir: env.dataDir, databaseUrl: env.databaseUrl });
  try {
    const { user } = await createUser(store, 'bench');
    const actor: Actor = user;
    const projectCount = totalAutomations === 1 ? 1 : 1000;
    const perProject = Math.ceil(totalAutomations / projectCount);
    const setupStart = performance.now();
    for (let i = 0; i < projectCount; i++) await createProject(store, actor, 'bench', `p${i}`, 'project');
    let made = 0;
    const make = (body: Record<string, unknown>) =>
      createAutomation(store, actor, { action: { type: 'NO_OP' }, rateLimitPerHour: 0, ...body }).then(() => {
        made++;
      });
    // p0 is the hot project: one automation matches its stream (tags starting with "keep").
    await make({
      name: 'hot',
      scope: { type: 'PROJECT', team: 'bench', project: 'p0' },
      event: { type: 'ADD_ARTIFACT_TAG', filter: { tag: { $regex: '^keep' } } },
    });
    // The others: same event type elsewhere, other event types, and misses in the hot project.
    const shapes = [
      (p: string, n: string) => ({
        name: n,
        scope: { type: 'PROJECT', team: 'bench', project: p },
        event: { type: 'ADD_ARTIFACT_TAG', filter: { tag: { $regex: '^nomatch-' } } },
      }),
      (p: string, n: string) => ({
        name: n,
        scope: { type: 'ARTIFACT_COLLECTION', team: 'bench', project: p, collection: 'other' },
        event: { type: 'ADD_ARTIFACT_TAG' },
      }),
      (p: string, n: string) => ({
        name: n,
        scope: { type: 'PROJECT', team: 'bench', project: p },
        event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
      }),
      (p: string, n: string) => ({
        name: n,
        scope: { type: 'PROJECT', team: 'bench', project: p },
        event: { type: 'ADD_ARTIFACT_ALIAS', filter: { alias: { $regex: '^prod' } } },
      }),
      (p: string, n: string) => ({
        name: n,
        scope: { type: 'PROJECT', team: 'bench', project: p },
        event: {
          type: 'RUN_METRIC',
          filter: { threshold_filter: { name: 'loss', cmp_op: '$gt', threshold: 1 } },
        },
      }),
    ];
    for (let i = 0; made < totalAutomations; i++) {
      const p = `p${Math.floor(i / perProject) % projectCount}`;
      await make(shapes[i % shapes.length](p, `a${i}`));
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;

    // A backlog, all in the hot project: versions with 49 tags each (1 + 49 events per version).
    const hot = await getProject(store, actor, 'bench', 'p0', 'project');
    const versions = Math.ceil(EVENTS / (TAGS_PER_VERSION + 1));
    let backlogs = 0;
    const makeBacklog = async () => {
      const b = backlogs++;
      const from = await lastPosition(store);
      for (let v = 0; v < versions; v++) {
        await createArtifactVersion(store, actor, hot, {
          collection: 'clf',
          type: 'model',
          tags: Array.from(
            { length: TAGS_PER_VERSION },
            (_, j) => `${j % 2 === 0 ? 'keep' : 'drop'}-${b}-${v}-${j}`,
          ),
        });
      }
      return (await lastPosition(store)) - from;
    };
    const countExecutions = async () =>
      Number(
        (
          await store.db
            .selectFrom('executions')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    // One engine for all rounds, as in a server: its index is built on the first drain. Each round
    // logs a fresh backlog while the engine is idle (its poll is an hour away), then times a drain.
    const engine = startEngine(store, { logger: silent, pollMs: 3_600_000 });
    return {
      automations: made,
      events: versions * (TAGS_PER_VERSION + 1),
      setupSeconds,
      async drain() {
        const events = await makeBacklog();
        const before = await countExecutions();
        const t = performance.now();
        const cpu0 = process.cpuUsage();
        await engine.drain();
        const cpu = process.cpuUsage(cpu0);
        const seconds = (performance.now() - t) / 1000;
        const cpuSeconds = (cpu.user + cpu.system) / 1e6;
        return { seconds, cpuSeconds, events, executions: (await countExecutions()) - before };
      },
      async dispose() {
        await engine.stop();
        await store.close();
        await env.dispose();
      },
    };
  } catch (err) {
    await store.close();
    await env.dispose();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------
// (b) metric ingest through REST with 10 run-metric automations vs none.

const METRICS = 10;

function metricAutomations(project: string) {
  const scope = { type: 'PROJECT', team: 'admin', project };
  const thr = (name: string, f: Record<string, unknown>) => ({
    name,
    scope,
    event: { type: 'RUN_METRIC', filter: { threshold_filter: f } },
  });
  const chg = (name: string, f: Record<string, unknown>) => ({
    name,
    scope,
    event: { type: 'RUN_METRIC_CHANGE', filter: { change_filter: f } },
  });
  const z = (name: string, f: Record<string, unknown>) => ({
    name,
    scope,
    event: { type: 'RUN_METRIC_ZSCORE', filter: { zscore_filter: f } },
  });
  return [
    thr('loss-high', { name: 'loss', agg_op: 'AVERAGE', window_size: 5, cmp_op: '$gt', threshold: 50 }),
    thr('loss-nan', { name: 'loss', cmp_op: '$gt', threshold: 1e6 }),
    thr('acc-low', { name: 'acc', agg_op: 'MIN', window_size: 20, cmp_op: '$lt', threshold: -5 }),
    thr('m3-max', { name: 'm3', agg_op: 'MAX', window_size: 100, cmp_op: '$gte', threshold: 1e3 }),
    chg('loss-jump', {
      name: 'loss',
      agg_op: 'AVERAGE',
      current_window_size: 10,
      prior_window_size: 50,
      change_type: 'ABSOLUTE',
      change_dir: 'INCREASE',
      change_amount: 100,
    }),
    chg('acc-drop', {
      name: 'acc',
      agg_op: 'AVERAGE',
      current_window_size: 20,
      prior_window_size: 20,
      change_type: 'RELATIVE',
      change_dir: 'DECREASE',
      change_amount: 5,
    }),
    chg('m5-any', {
      name: 'm5',
      agg_op: 'MIN',
      current_window_size: 100,
      prior_window_size: 200,
      change_type: 'ABSOLUTE',
      change_dir: 'ANY',
      change_amount: 1e3,
    }),
    z('acc-z', { name: 'acc', window_size: 30, threshold: 1e3, change_dir: 'ANY' }),
    z('loss-z', { name: 'loss', window_size: 30, threshold: 1e3, change_dir: 'INCREASE' }),
    z('m7-z', { name: 'm7', window_size: 10, threshold: 1e3, change_dir: 'DECREASE' }),
  ].map((b) => ({ ...b, action: { type: 'NO_OP' }, rateLimitPerHour: 0 }));
}

function historyBodies(rows: number, from: number): string[] {
  const out: string[] = [];
  for (let s = from; s < from + rows; s += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, from + rows - s) }, (_, i) => {
      const step = s + i;
      const row: Record<string, number> = { _step: step, loss: 1 / (1 + step / 100), acc: 0.5 + step / 1e6 };
      for (let m = 2; m < METRICS; m++) row[`m${m}`] = Math.sin(step / m) + m;
      return row;
    });
    out.push(JSON.stringify({ rows: batch }));
  }
  return out;
}

async function scenarioB() {
  const env = await newEnv();
  const { server, store } = await serverOn(env);
  const api = (method: string, path: string, body?: unknown) => server.api(method, path, body);
  try {
    for (const p of ['watched', 'plain']) await api('POST', '/teams/admin/projects', { name: p });
    for (const a of metricAutomations('watched')) await api('POST', '/automations', a);
    // 30 finished runs per project so the z-score baselines are real.
    for (const p of ['watched', 'plain']) {
      for (let i = 0; i < 30; i++) {
        await api('POST', `/teams/admin/projects/${p}/runs`, { id: `base-${i}` });
        await api('POST', `/teams/admin/projects/${p}/runs/base-${i}/history`, {
          rows: [{ _step: 0, loss: 0.5 + i / 100, acc: 0.8 + i / 1000, m7: 7 + i / 100 }],
        });
        await api('PATCH', `/teams/admin/projects/${p}/runs/base-${i}`, { state: 'FINISHED' });
      }
      await api('POST', `/teams/admin/projects/${p}/runs`, { id: 'bench' });
    }
    await waitForCursor(store, await lastPosition(store));

    const steps: Record<string, number> = { watched: 0, plain: 0 };
    const measure = async (project: string, rows: number) => {
      const bodies = historyBodies(rows, steps[project]);
      steps[project] += rows;
      const path = `/teams/admin/projects/${project}/runs/bench/history`;
      const t = performance.now();
      for (const b of bodies) await api('POST', path, b);
      const ack = (performance.now() - t) / 1000;
      await waitForCursor(store, await lastPosition(store));
      const processed = (performance.now() - t) / 1000;
      return { ack, processed };
    };
    // Warm-up, then A B A B.
    await measure('watched', 2 * BATCH);
    await measure('plain', 2 * BATCH);
    const total = { watched: { ack: 0, processed: 0 }, plain: { ack: 0, processed: 0 } };
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of ['plain', 'watched'] as const) {
        const m = await measure(p, ROWS);
        total[p].ack += m.ack;
        total[p].processed += m.processed;
      }
    }
    const executions = await store.db
      .selectFrom('executions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const rows = ROUNDS * ROWS;
    return {
      plainAck: rows / total.plain.ack,
      watchedAck: rows / total.watched.ack,
      plainProcessed: rows / total.plain.processed,
      watchedProcessed: rows / total.watched.processed,
      executions: Number(executions.n),
    };
  } finally {
    await store.close();
    await server.stop();
    await env.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------
// (c) latency: committed event → execution row.

async function scenarioC() {
  const env = await newEnv();
  const { server, store } = await serverOn(env);
  const api = (method: string, path: string, body?: unknown) => server.api(method, path, body);
  try {
    await api('POST', '/teams/admin/projects', { name: 'lat' });
    await api('POST', '/automations', {
      name: 'tagged',
      scope: { type: 'PROJECT', team: 'admin', project: 'lat' },
      event: { type: 'ADD_ARTIFACT_TAG' },
      action: { type: 'NO_OP' },
      rateLimitPerHour: 0,
    });
    await api('POST', '/teams/admin/projects/lat/artifacts', { collection: 'c', type: 'model' });
    const ackToRow: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      // Spread the events over the engine's poll interval rather than in lock-step with it.
      await sleep(Math.random() * 25);
      await api('POST', '/teams/admin/projects/lat/artifacts/c/v0/tags', { tag: `t${i}` });
      const acked = performance.now();
      while (true) {
        const r = await store.db
          .selectFrom('executions')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        if (Number(r.n) > i) break;
        await sleep(1);
      }
      ackToRow.push(performance.now() - acked);
    }
    const rows = await store.db
      .selectFrom('executions')
      .innerJoin('events', 'events.position', 'executions.event_position')
      .select(['executions.triggered_at', 'events.created_at'])
      .execute();
    const dbLag = rows.map((r) => Date.parse(r.triggered_at) - Date.parse(r.created_at));
    const db = percentiles(dbLag, [50, 99]);
    const ack = percentiles(ackToRow, [50, 99]);
    return { samples: rows.length, dbP50: db.p50, dbP99: db.p99, ackP50: ack.p50, ackP99: ack.p99 };
  } finally {
    await store.close();
    await server.stop();
    await env.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------

async function runDialect(): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = { dialect: DIALECT };
  const rows: Array<Array<string | number>> = [];
  const ratios: Array<() => void> = [];

  if (ONLY.has('a')) {
    const one = await prepareA(1);
    const many = await prepareA(10_000);
    const time = { one: 0, many: 0 };
    const cpu = { one: 0, many: 0 };
    const executions = { one: 0, many: 0 };
    const first = { one: 0, many: 0 };
    try {
      // A warm-up drain each (it builds the engine's index: 10,000 automations compiled once), then
      // rounds A B B A …, each on a new backlog: the order alternates so drift on a busy machine
      // hits both alike.
      first.one = (await one.drain()).seconds;
      first.many = (await many.drain()).seconds;
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (['one', 'many'] as const) : (['many', 'one'] as const);
        for (const k of order) {
          const r = await (k === 'one' ? one : many).drain();
          time[k] += r.seconds;
          cpu[k] += r.cpuSeconds;
          executions[k] = r.executions;
        }
      }
    } finally {
      await one.dispose();
      await many.dispose();
    }
    const r1 = (ROUNDS * one.events) / time.one;
    const r2 = (ROUNDS * many.events) / time.many;
    // Engine process CPU per event: less sensitive to other load on the machine than wall time.
    const cpu1 = (cpu.one / (ROUNDS * one.events)) * 1e6;
    const cpu2 = (cpu.many / (ROUNDS * many.events)) * 1e6;
    result.a = { rounds: ROUNDS, events: one.events, r1, r2, ratio: r2 / r1, cpu1, cpu2, first };
    rows.push(
      [
        '(a) engine, 1 automation',
        `${fmt(r1)} events/s`,
        `${fmt(cpu1)} µs CPU/event`,
        `${fmt(one.events)} events, ${fmt(executions.one)} executions, ${ROUNDS} rounds; first drain ${fmt(first.one, 2)} s`,
      ],
      [
        '(a) engine, 10,000 automations / 1,000 projects',
        `${fmt(r2)} events/s`,
        `${fmt(cpu2)} µs CPU/event`,
        `same; first drain ${fmt(first.many, 2)} s (builds the index); setup ${fmt(many.setupSeconds, 1)} s`,
      ],
    );
    ratios.push(() => ratioLine(`${DIALECT} (a) events/s with 10,000 automations vs 1`, r2, r1, 50));
  }
  if (ONLY.has('b')) {
    const b = await scenarioB();
    result.b = {
      ...b,
      ackRatio: b.watchedAck / b.plainAck,
      doneRatio: b.watchedProcessed / b.plainProcessed,
    };
    const note = `${fmt(ROUNDS * ROWS)} rows per side, ${BATCH} rows × 10 metrics a request`;
    rows.push(
      [
        '(b) REST ingest, no automations',
        `${fmt(b.plainAck)} rows/s`,
        `${fmt(b.plainProcessed)} rows/s`,
        note,
      ],
      [
        '(b) REST ingest, 10 run-metric automations',
        `${fmt(b.watchedAck)} rows/s`,
        `${fmt(b.watchedProcessed)} rows/s`,
        `acked / engine done; ${b.executions} executions`,
      ],
    );
    ratios.push(() =>
      ratioLine(
        `${DIALECT} (b) rows/s acked with 10 metric automations vs none`,
        b.watchedAck,
        b.plainAck,
        70,
      ),
    );
    ratios.push(() =>
      ratioLine(
        `${DIALECT} (b) rows/s until the engine is done, 10 automations vs none`,
        b.watchedProcessed,
        b.plainProcessed,
        70,
      ),
    );
  }
  if (ONLY.has('c')) {
    const c = await scenarioC();
    result.c = c;
    rows.push(
      [
        '(c) event created_at → execution triggered_at',
        `p50 ${fmt(c.dbP50)} ms`,
        `p99 ${fmt(c.dbP99)} ms`,
        `${c.samples} events, one at a time`,
      ],
      [
        '(c) client ack → execution row visible',
        `p50 ${fmt(c.ackP50, 1)} ms`,
        `p99 ${fmt(c.ackP99, 1)} ms`,
        'polled every 1 ms',
      ],
    );
  }
  printTable(`engine on ${DIALECT}`, ['measure', 'figure', 'second figure', 'notes'], rows);
  for (const r of ratios) r();
  return result;
}

async function main() {
  console.log(`engine benchmarks — ${machine()}`);
  const results: Array<Record<string, unknown>> = [];
  for (const db of String(args.db).split(',')) {
    if (db !== 'sqlite' && db !== 'postgres') throw new Error(`--db takes sqlite and/or postgres, not ${db}`);
    if (db === 'postgres' && !(await pgReachable())) {
      console.log('\nPostgreSQL is not reachable: skipping the postgres runs');
      continue;
    }
    DIALECT = db;
    results.push(await runDialect());
  }
  console.log(`\n${JSON.stringify(results)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
