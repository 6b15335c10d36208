/**
 * Shared helpers for the benchmarks in bench/: a server child process, a fresh PostgreSQL database,
 * timing, percentiles, a result table and a ratio line, and a note of the machine.
 *
 *   import { startBenchServer, percentiles, printTable, ratioLine, machine } from './lib.js';
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

export const ROOT = join(import.meta.dirname, '..');

/** Where PostgreSQL benchmarks create their scratch databases (the test suite's default). */
export const PG_ADMIN_URL =
  process.env.TRIPLINE_BENCH_PG_URL ??
  process.env.TRIPLINE_TEST_PG_URL ??
  'postgres://postgres@127.0.0.1:5432/test';

// ---------------------------------------------------------------------------------------------
// Timing and statistics

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const now = (): number => performance.now();

/** Runs fn and returns its result with the elapsed milliseconds. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ result: T; ms: number }> {
  const t0 = now();
  const result = await fn();
  return { result, ms: now() - t0 };
}

/** Collects latency samples (ms). */
export class Samples {
  readonly values: number[] = [];
  add(ms: number) {
    this.values.push(ms);
  }
  /** Times one call and records it. */
  async time<T>(fn: () => Promise<T>): Promise<T> {
    const t0 = now();
    try {
      return await fn();
    } finally {
      this.values.push(now() - t0);
    }
  }
  percentiles(ps: number[] = [50, 95, 99]) {
    return percentiles(this.values, ps);
  }
}

/** Nearest-rank percentiles of samples (p in 0..100); NaN for no samples. */
export function percentiles(
  samples: readonly number[],
  ps: readonly number[] = [50, 95, 99],
): Record<string, number> {
  const sorted = [...samples].sort((a, b) => a - b);
  const out: Record<string, number> = {};
  for (const p of ps) {
    if (sorted.length === 0) out[`p${p}`] = Number.NaN;
    else
      out[`p${p}`] =
        sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  }
  return out;
}

export const mean = (xs: readonly number[]) =>
  xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
export const median = (xs: readonly number[]) => percentiles(xs, [50]).p50;

/** Runs tasks with at most `concurrency` in flight; results in task order. */
export async function pool<T>(concurrency: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  });
  await Promise.all(workers);
  return results;
}

// ---------------------------------------------------------------------------------------------
// Formatting and output

/** 12345.6 → "12,346"; small numbers keep `digits` decimals. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
export const fmtMs = (ms: number) =>
  ms < 10 ? `${fmt(ms, 2)} ms` : ms < 100 ? `${fmt(ms, 1)} ms` : `${fmt(ms)} ms`;
export const fmtMiB = (kib: number) => `${fmt(kib / 1024, 1)} MiB`;

export type Cell = string | number;

/** Prints an aligned table: numeric columns ("12,345", "3.4 ms", "—") right-aligned, text left-aligned. */
export function printTable(title: string, head: string[], rows: Cell[][]): void {
  const text = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = head.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const numeric = head.map((_, i) =>
    rows.every((r) => typeof r[i] === 'number' || /^([\d,.]+( \S+)?|—|-|)$/.test(String(r[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')}`.trimEnd();
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of text) console.log(line(r));
}

/**
 * The summary line of a comparison: `label: 61.2 % of baseline (target ≥ 50 %) — OK`.
 * Returns whether the target is met (true when there is no target).
 */
export function ratioLine(label: string, value: number, baseline: number, targetPercent?: number): boolean {
  const pct = (value / baseline) * 100;
  const ok = targetPercent === undefined || pct >= targetPercent;
  const target =
    targetPercent === undefined ? '' : ` (target ≥ ${targetPercent} %) — ${ok ? 'OK' : 'BELOW TARGET'}`;
  console.log(`${label}: ${fmt(pct, 1)} % of baseline${target}`);
  return ok;
}

/** One line describing where the figures come from. */
export function machine(): string {
  const c = cpus();
  const load = loadavg().map((l) => l.toFixed(1));
  return `${c[0]?.model.trim() ?? 'unknown CPU'} × ${c.length}, ${fmt(totalmem() / 2 ** 30, 0)} GiB RAM, Node ${process.version}, ${process.platform}; load average ${load.join(' ')}`;
}

// ---------------------------------------------------------------------------------------------
// Processes and databases

/** Peak resident set size (VmHWM) of a process in KiB, from /proc; undefined where there is none. */
export function peakRssKiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, ms) a process has used so far, from /proc; undefined where there is none. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): utime and stime are 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux Node.js runs on in practice. */
const CLOCK_TICKS = 100;

/** A fresh PostgreSQL database, dropped by drop(). */
export async function createPgDatabase(
  prefix = 'tripline_bench',
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  return {
    url: PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Whether PostgreSQL is reachable at PG_ADMIN_URL. */
export async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

export interface BenchServer {
  url: string;
  apiKey: string;
  dataDir: string;
  databaseUrl?: string;
  pid: number;
  proc: ChildProcess;
  /** Peak RSS of the server process so far (KiB). */
  peakRssKiB(): number | undefined;
  /** CPU time the server process has used so far (ms). */
  cpuMs(): number | undefined;
  /** JSON request as the admin; throws on a non-2xx answer. */
  api<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts `tripline serve` as a child process on a free port with its own data dir: SQLite, or
 * PostgreSQL when databaseUrl is given. stop() ends it and removes the data dir.
 */
export async function startBenchServer(
  opts: { databaseUrl?: string; env?: Record<string, string>; nodeArgs?: string[] } = {},
): Promise<BenchServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tripline-bench-'));
  const apiKey = `bench-${randomBytes(12).toString('hex')}`;
  const proc = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
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
        TRIPLINE_DATABASE_URL: opts.databaseUrl ?? '',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stderr!.on('data', (d) => {
    out += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  return {
    url,
    apiKey,
    dataDir,
    databaseUrl: opts.databaseUrl,
    pid: proc.pid!,
    proc,
    peakRssKiB: () => peakRssKiB(proc.pid),
    cpuMs: () => processCpuMs(proc.pid),
    async api(method, path, body) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : undefined;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
