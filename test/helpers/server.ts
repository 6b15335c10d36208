import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from './pg.js';
import type { TestDialect } from './store.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface ServerProcess {
  url: string;
  apiKey: string;
  dataDir: string;
  databaseUrl?: string;
  proc: ChildProcess;
  output: () => string;
  /** kill -9, keeping data for a restart. */
  crash(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  dialect?: TestDialect;
  env?: Record<string, string>;
  args?: string[];
}

/** Starts `tripline serve` as a real child process on a free port with its own data dir / database. */
export async function startServerProcess(opts: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tripline-e2e-'));
  const apiKey = `test-admin-${Math.random().toString(36).slice(2)}`;
  let databaseUrl: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  if (opts.dialect === 'postgres') {
    const tdb = await createTestDatabase();
    databaseUrl = tdb.url;
    drop = tdb.drop;
  }
  let out = '';
  let proc!: ChildProcess;
  let port = 0;
  const launch = async () => {
    // Only this launch's output counts: a restart must not match the previous start's URL line.
    const from = out.length;
    proc = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/cli/index.ts'),
        'serve',
        '--port',
        String(port),
        '--data-dir',
        dataDir,
        ...(opts.args ?? []),
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          TRIPLINE_ADMIN_API_KEY: apiKey,
          TRIPLINE_LOG_LEVEL: 'warn',
          ...(databaseUrl ? { TRIPLINE_DATABASE_URL: databaseUrl } : { TRIPLINE_DATABASE_URL: '' }),
          ...opts.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    proc.stdout!.on('data', (d) => {
      out += d;
    });
    proc.stderr!.on('data', (d) => {
      out += d;
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
      const check = () => {
        const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out.slice(from));
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      proc.stdout!.on('data', check);
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${out}`));
      });
      check();
    });
    port = Number(new URL(url).port);
    return url;
  };
  const url = await launch();
  const exited = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
  return {
    url,
    apiKey,
    dataDir,
    databaseUrl,
    get proc() {
      return proc;
    },
    output: () => out,
    async crash() {
      proc.kill('SIGKILL');
      await exited();
    },
    async restart() {
      await launch();
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited(), new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await exited();
      }
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A small JSON client for tests. */
export function client(url: string, apiKey: string) {
  return async function api(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(`${url}${path.startsWith('/api') ? '' : '/api/v1'}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed };
  };
}
