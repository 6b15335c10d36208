import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, type ServerProcess } from '../helpers/server.js';

const FIXTURE = join(ROOT, 'test/wandb/fixtures/log-run.mjs');

/** Runs the fixture with the real @wandb/sdk in its own process, as a user's script would run. */
export function logWithSdk(
  server: ServerProcess,
  opts: {
    runId: string;
    project: string;
    entity?: string;
    name?: string;
    exitCode?: number;
    steps?: number;
    key?: string;
    sleepMs?: number;
  },
) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(
      process.execPath,
      [FIXTURE],
      {
        cwd: ROOT,
        timeout: 60_000,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          WANDB_BASE_URL: server.url,
          WANDB_API_KEY: opts.key ?? server.apiKey,
          TRIPLINE_FIXTURE_RUN_ID: opts.runId,
          TRIPLINE_FIXTURE_PROJECT: opts.project,
          TRIPLINE_FIXTURE_ENTITY: opts.entity ?? '',
          TRIPLINE_FIXTURE_NAME: opts.name ?? '',
          TRIPLINE_FIXTURE_EXIT_CODE: String(opts.exitCode ?? 0),
          TRIPLINE_FIXTURE_STEPS: String(opts.steps ?? 200),
          TRIPLINE_FIXTURE_SLEEP_MS: String(opts.sleepMs ?? 0),
        },
      },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, out: `${stdout}${stderr}` });
      },
    );
  });
}
