/**
 * Metric history ingest: rows/s through the REST batch endpoint (`POST …/runs/{run}/history`)
 * against raw inserts of the same rows into the same `run_history` table, measured in the same run.
 *
 *   npm run bench -- ingest [--rows 100000] [--batch 100] [--metrics 10] [--concurrency 4]
 *                           [--db sqlite,postgres] [--role all|api] [--cpu-prof]
 *
 * REST: a `tripline serve` child process; `concurrency` runs logged in parallel, each by its own
 * client sending its share of the rows in batches of `batch` rows (10 metrics a row), bodies
 * serialised before the clock starts. Peak RSS is the server process's VmHWM.
 *
 * Baseline on SQLite: better-sqlite3 on a database migrated by the server's own code, with the
 * server's PRAGMAs (WAL, synchronous=FULL, busy_timeout, foreign_keys), a prepared INSERT, one
 * transaction per `batch` rows: the same commits (and fsyncs) as the server, minus everything else.
 * Baseline on PostgreSQL: `pg`, `concurrency` connections in parallel, one multi-row INSERT per
 * transaction of `batch` rows. Both serialise each row's values to the same `data` JSON text the
 * server stores, inside the timed loop (as any inserter must). The baseline runs before and after
 * the REST phase, on fresh databases, and the two are pooled: load drifts on a shared machine.
 *
 * Target: REST ≥ 50 % of the raw insert rate on SQLite.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { openStore } from '../src/store/db.js';
import {
  type BenchServer,
  createPgDatabase,
  fmt,
  fmtMiB,
  fmtMs,
  machine,
  now,
  pgReachable,
  printTable,
  ratioLine,
  Samples,
  startBenchServer,
} from './lib.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '100' },
    metrics: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '4' },
    db: { type: 'string', default: 'sqlite,postgres' },
    'cpu-prof': { type: 'boolean', default: false },
    /** TRIPLINE_ROLE of the server: `all` (default) or `api` (no engine, no delivery worker). */
    role: { type: 'string', default: 'all' },
  },
});
const ROWS = Number(args.rows);
const BATCH = Number(args.batch);
const METRICS = Number(args.metrics);
const CONCURRENCY = Number(args.concurrency);
const TARGET_PERCENT = 50;
const PER_RUN = Math.ceil(ROWS / CONCURRENCY);

/** Row `step` of a run: `_step` plus METRICS floats, as a training script would log them. */
function row(step: number, seed: number): Record<string, number> {
  const r: Record<string, number> = { _step: step };
  for (let m = 0; m < METRICS; m++)
    r[`metric_${m}`] = Math.sin((step + seed) / (m + 1)) * (m + 1) + Math.random() * 1e-3;
  return r;
}

interface Batch {
  /** The REST request body. */
  body: string;
  /** What the server stores per row: the step and the values without `_step` (as JSON). */
  stored: Array<[number, Record<string, number>]>;
}

/** Each run's batches, generated and serialised before any clock starts. */
function makeBatches(runs: number, perRun: number): Batch[][] {
  return Array.from({ length: runs }, (_, r) => {
    const batches: Batch[] = [];
    for (let from = 0; from < perRun; from += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, perRun - from) }, (_, i) => row(from + i, r * 1000));
      batches.push({
        body: JSON.stringify({ rows }),
        stored: rows.map(({ _step, ...values }) => [_step, values]),
      });
    }
    return batches;
  });
}

interface Result {
  path: string;
  rows: number;
  ms: number;
  latency?: Samples;
  peakRssKiB?: number;
  /** CPU time used for the rows: the server process's for REST, this process's for raw inserts. */
  cpuMs?: number;
}

const rowsPerSec = (r: Result) => r.rows / (r.ms / 1000);

/** Two measurements of one path as one: rows, time and CPU added up, latency samples merged. */
function pool2(a: Result, b: Result): Result {
  const latency = a.latency && b.latency ? new Samples() : undefined;
  for (const v of [...(a.latency?.values ?? []), ...(b.latency?.values ?? [])]) latency?.add(v);
  return {
    path: `${a.path} (before + after)`,
    rows: a.rows + b.rows,
    ms: a.ms + b.ms,
    latency,
    cpuMs: a.cpuMs === undefined || b.cpuMs === undefined ? undefined : a.cpuMs + b.cpuMs,
  };
}

// ---------------------------------------------------------------------------------------------

async function restIngest(server: BenchServer, batches: Batch[][], label: string): Promise<Result> {
  await server.api('POST', '/teams/admin/projects', { name: label });
  const runIds = batches.map((_, i) => `run-${i}`);
  for (const id of runIds) await server.api('POST', `/teams/admin/projects/${label}/runs`, { id });
  const latency = new Samples();
  const headers = { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
  let rows = 0;
  const cpu0 = server.cpuMs();
  const t0 = now();
  await Promise.all(
    batches.map(async (runBatches, i) => {
      const url = `${server.url}/api/v1/teams/admin/projects/${label}/runs/${runIds[i]}/history`;
      for (const b of runBatches) {
        const res = await latency.time(() => fetch(url, { method: 'POST', headers, body: b.body }));
        const text = await res.text();
        if (!res.ok) throw new Error(`POST history: ${res.status} ${text.slice(0, 300)}`);
        rows += (JSON.parse(text) as { count: number }).count;
      }
    }),
  );
  const ms = now() - t0;
  const cpuMs = cpu0 === undefined ? undefined : server.cpuMs()! - cpu0;
  return { path: 'REST batch endpoint', rows, ms, latency, peakRssKiB: server.peakRssKiB(), cpuMs };
}

function sqliteRaw(batches: Batch[][], file: string): Result {
  const db = new SQLite(file);
  // The server's PRAGMAs (src/store/db.ts).
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 10000');
  db.pragma('foreign_keys = ON');
  const insert = db.prepare('insert into run_history (run_id, step, data) values (?, ?, ?)');
  const write = db.transaction((runId: string, stored: Batch['stored']) => {
    for (const [step, values] of stored) insert.run(runId, step, JSON.stringify(values));
  });
  const runIds = batches.map(() => randomUUID());
  let rows = 0;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  // Interleave the runs' batches, as concurrent clients would arrive.
  for (let i = 0; i < batches[0].length; i++) {
    for (let r = 0; r < batches.length; r++) {
      const b = batches[r][i];
      if (!b) continue;
      write(runIds[r], b.stored);
      rows += b.stored.length;
    }
  }
  const ms = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  db.close();
  return { path: 'raw better-sqlite3 inserts', rows, ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function pgRaw(batches: Batch[][], url: string): Promise<Result> {
  const pool = new pg.Pool({ connectionString: url, max: batches.length });
  pool.on('error', () => {}); // an idle client dropped by the server is not this benchmark's failure
  const runIds = batches.map(() => randomUUID());
  let rows = 0;
  const latency = new Samples();
  const t0 = now();
  await Promise.all(
    batches.map(async (runBatches, r) => {
      const client = await pool.connect();
      try {
        for (const b of runBatches) {
          const params: Array<string | number> = [];
          const values = b.stored.map(([step, data], i) => {
            params.push(runIds[r], step, JSON.stringify(data));
            return `($${i * 3 + 1}, $${i * 3 + 2}, $${i * 3 + 3})`;
          });
          await latency.time(async () => {
            await client.query('begin');
            await client.query(
              `insert into run_history (run_id, step, data) values ${values.join(', ')}`,
              params,
            );
            await client.query('commit');
          });
          rows += b.stored.length;
        }
      } finally {
        client.release();
      }
    }),
  );
  const ms = now() - t0;
  await pool.end();
  return { path: 'raw pg inserts', rows, ms, latency };
}

async function countRows(databaseUrl: string | undefined, dataDir: string): Promise<number> {
  if (databaseUrl) {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    const r = await c.query('select count(*)::int as n from run_history');
    await c.end();
    return r.rows[0].n;
  }
  const db = new SQLite(join(dataDir, 'tripline.db'), { readonly: true });
  const n = (db.prepare('select count(*) as n from run_history').get() as { n: number }).n;
  db.close();
  return n;
}

// ---------------------------------------------------------------------------------------------

async function benchDatabase(dialect: 'sqlite' | 'postgres'): Promise<{ rest: Result; raw: Result }> {
  const warmup = makeBatches(CONCURRENCY, Math.min(PER_RUN, 20 * BATCH));
  const batches = makeBatches(CONCURRENCY, PER_RUN);

  // Baseline: the same schema, created by the server's own migrations, on a fresh database.
  const baseline = async (): Promise<Result> => {
    if (dialect === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'tripline-bench-raw-'));
      try {
        const store = await openStore({ dataDir: dir });
        await store.close();
        sqliteRaw(warmup, join(dir, 'tripline.db'));
        return sqliteRaw(batches, join(dir, 'tripline.db'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const tdb = await createPgDatabase();
    try {
      const store = await openStore({ dataDir: tmpdir(), databaseUrl: tdb.url });
      await store.close();
      await pgRaw(warmup, tdb.url);
      return await pgRaw(batches, tdb.url);
    } finally {
      await tdb.drop();
    }
  };
  const rawBefore = await baseline();

  // REST, against a server on a fresh database of its own.
  const tdb = dialect === 'postgres' ? await createPgDatabase() : undefined;
  const profDir = args['cpu-prof'] ? join(process.cwd(), 'bench-profiles') : undefined;
  const server = await startBenchServer({
    databaseUrl: tdb?.url,
    nodeArgs: profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
    env: { TRIPLINE_ROLE: args.role },
  });
  let rest: Result;
  try {
    await restIngest(server, warmup, 'warmup');
    rest = await restIngest(server, batches, 'ingest');
    const stored = await countRows(tdb?.url, server.dataDir);
    const expected = rest.rows + warmup.flat().reduce((n, b) => n + b.stored.length, 0);
    if (stored !== expected) throw new Error(`server stored ${stored} history rows, expected ${expected}`);
  } finally {
    await server.stop();
    await tdb?.drop();
  }
  if (profDir) console.log(`CPU profile of the server: ${profDir}/ (open in Chrome DevTools)`);
  const rawAfter = await baseline();
  return { rest, raw: pool2(rawBefore, rawAfter) };
}

async function main() {
  const dbs = args.db.split(',').map((s) => s.trim()) as Array<'sqlite' | 'postgres'>;
  console.log('bench/ingest — metric history rows/s: REST batch endpoint vs raw inserts');
  console.log(`machine: ${machine()}`);
  console.log(
    `workload: ${fmt(PER_RUN * CONCURRENCY)} rows = ${CONCURRENCY} runs × ${fmt(PER_RUN)}, ${BATCH} rows a batch, ${METRICS} metrics a row`,
  );
  const summary: Record<string, unknown> = {};
  let allOk = true;
  for (const dialect of dbs) {
    if (dialect === 'postgres' && !(await pgReachable())) {
      console.log('\nPostgreSQL: not reachable — SKIPPED');
      continue;
    }
    const { rest, raw } = await benchDatabase(dialect);
    const lat = (r: Result) => r.latency?.percentiles() ?? {};
    printTable(
      dialect === 'sqlite' ? 'SQLite (WAL, synchronous=FULL)' : 'PostgreSQL',
      [
        'path',
        'rows',
        'seconds',
        'rows/s',
        'batch p50',
        'batch p95',
        'batch p99',
        'CPU ms/batch',
        'server peak RSS',
      ],
      [rest, raw].map((r) => {
        const l = lat(r);
        return [
          r.path,
          r.rows,
          fmt(r.ms / 1000, 2),
          fmt(rowsPerSec(r)),
          r.latency ? fmtMs(l.p50) : '—',
          r.latency ? fmtMs(l.p95) : '—',
          r.latency ? fmtMs(l.p99) : '—',
          r.cpuMs === undefined ? '—' : fmt(r.cpuMs / (r.rows / BATCH), 2),
          r.peakRssKiB ? fmtMiB(r.peakRssKiB) : '—',
        ];
      }),
    );
    const ok = ratioLine(
      `${dialect}: REST ${fmt(rowsPerSec(rest))} rows/s vs raw ${fmt(rowsPerSec(raw))} rows/s`,
      rowsPerSec(rest),
      rowsPerSec(raw),
      dialect === 'sqlite' ? TARGET_PERCENT : undefined,
    );
    if (dialect === 'sqlite') allOk &&= ok;
    summary[dialect] = {
      restRowsPerSec: Math.round(rowsPerSec(rest)),
      rawRowsPerSec: Math.round(rowsPerSec(raw)),
      ratio: Number((rowsPerSec(rest) / rowsPerSec(raw)).toFixed(3)),
      restBatchMs: Object.fromEntries(Object.entries(lat(rest)).map(([k, v]) => [k, Number(v.toFixed(2))])),
      serverPeakRssMiB: rest.peakRssKiB ? Number((rest.peakRssKiB / 1024).toFixed(1)) : null,
      serverCpuMsPerBatch:
        rest.cpuMs === undefined ? null : Number((rest.cpuMs / (rest.rows / BATCH)).toFixed(2)),
    };
  }
  console.log(
    `\n${JSON.stringify({ bench: 'ingest', rows: PER_RUN * CONCURRENCY, batch: BATCH, concurrency: CONCURRENCY, role: args.role, ...summary })}`,
  );
  // A result below target is a finding, not a crash: the exit status stays 0.
  if (!allOk) console.log('(below target: see docs/benchmarks.md for where the time goes)');
}

await main();
