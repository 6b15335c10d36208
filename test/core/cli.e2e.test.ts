import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, ROOT, type ServerProcess, startServerProcess } from '../helpers/server.js';

/** The `tripline` CLI as users run it: `node --import tsx src/cli/index.ts …`, against a real server. */

const CLI = join(ROOT, 'src/cli/index.ts');
/** `--import tsx`, resolved from the repo so the CLI can run from any directory. */
const TSX = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('tsx')).href;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in a scratch directory with a clean environment (no key, URL or data dir leaks in). */
function tripline(args: string[], env: Record<string, string> = {}, cwd = scratch): Promise<Result> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('TRIPLINE_')) base[k] = v;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, CLI, ...args],
      { cwd, env: { ...base, NO_COLOR: '1', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

let scratch = '';

// Each CLI start costs a second or more (tsx); on a loaded machine much more.
describe('tripline CLI', { timeout: 180_000 }, () => {
  let server: ServerProcess;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tripline-cli-'));
    server = await startServerProcess({ dialect: 'sqlite' });
  });
  afterAll(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('--help lists every command with a line of description', async () => {
    const [r, run, log, version] = await Promise.all([
      tripline(['--help']),
      tripline(['run', '--help']),
      tripline(['run', 'log', '--help']),
      tripline(['--version']),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tripline /);
    expect(r.stdout).toContain('self-hosted automations for ML experiment tracking');
    for (const cmd of ['serve', 'user', 'team', 'project', 'registry', 'run', 'artifact']) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}${cmd}\\b.* {2,}\\S`, 'm'));
    }
    expect(run.code).toBe(0);
    for (const sub of ['create', 'log', 'finish', 'list']) {
      expect(run.stdout).toMatch(new RegExp(`^ {2}${sub} `, 'm'));
    }
    expect(log.stdout).toContain('--file');
    expect(log.stdout).toContain('TRIPLINE_API_KEY');
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('failing commands exit non-zero with one clear line on stderr', async () => {
    const port = await closedPort();
    const rows = join(scratch, 'broken.jsonl');
    writeFileSync(rows, '{"_step":0,"loss":1}\n{"_step":1,"loss":\n');
    // Something that is not Tripline answers with HTML.
    const other = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const env = { TRIPLINE_URL: server.url, TRIPLINE_API_KEY: server.apiKey };
    const cases: Array<{ args: string[]; env?: Record<string, string>; stderr: string | RegExp }> = [
      { args: ['frobnicate'], stderr: /^error: unknown command 'frobnicate'/ },
      { args: ['run', 'create'], stderr: /^error: missing required argument 'team\/project'/ },
      {
        args: ['run', 'create', 'just-a-project', '--api-key', 'k'],
        stderr: 'error: expected team/project, got "just-a-project"\n',
      },
      {
        args: ['team', 'create', 'x', '--url', `http://127.0.0.1:${port}`, '--api-key', 'k'],
        stderr: new RegExp(
          `^error: cannot reach http://127.0.0.1:${port}: .*ECONNREFUSED.*Is the server running\\?\\n$`,
        ),
      },
      {
        args: ['team', 'create', 'x', '--url', server.url, '--api-key', 'wrong'],
        stderr: 'error: 401 the API key is not valid\n',
      },
      {
        args: ['team', 'create', 'x', '--url', server.url],
        stderr: 'error: no API key: pass --api-key or set TRIPLINE_API_KEY\n',
      },
      {
        args: ['team', 'create', 'bad name!'],
        env,
        stderr: /^error: 400 name must be .* \(field: name\)\n$/,
      },
      { args: ['run', 'create', 'nope/nope'], env, stderr: 'error: 404 team "nope" not found\n' },
      {
        args: ['artifact', 'create', 'admin/p', '--collection', 'c', '--type', 'model', '--metadata', '{bad'],
        env,
        stderr: /^error: --metadata is not JSON: .*\n$/,
      },
      { args: ['run', 'log', 'admin/p/r', '--file', rows], env, stderr: /^error: line 2 is not JSON: .*\n$/ },
      {
        args: ['team', 'create', 'x', '--url', otherUrl, '--api-key', 'k'],
        stderr: `error: 502 Bad Gateway: the answer from ${otherUrl} is not JSON. Is it a Tripline server?\n`,
      },
    ];
    try {
      const results = await Promise.all(cases.map((c) => tripline(c.args, c.env)));
      cases.forEach((c, i) => {
        const r = results[i];
        const what = `tripline ${c.args.join(' ')}`;
        expect(r.code, what).not.toBe(0);
        expect(r.stdout, what).toBe('');
        if (typeof c.stderr === 'string') expect(r.stderr, what).toBe(c.stderr);
        else expect(r.stderr, what).toMatch(c.stderr);
      });
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('a shell script sets up a team, logs a run and links an artifact', async () => {
    const lines = Array.from({ length: 2500 }, (_, i) =>
      JSON.stringify({ _step: i, loss: 1 / (i + 1), acc: i / 2500 }),
    );
    writeFileSync(join(scratch, 'rows.jsonl'), `${lines.join('\n')}\n`);
    const script = `
set -euo pipefail
tripline() { node --import "${TSX}" "${CLI}" "$@"; }

# The instance admin creates a user; the user does the rest with their own key.
ALICE_KEY=$(tripline user create alice --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).apiKey))')
export TRIPLINE_API_KEY="$ALICE_KEY"

tripline team create ml
tripline project create ml/mnist
tripline registry create ml/models
RUN=$(tripline run create ml/mnist --id baseline-1 --name baseline)
echo "run=$RUN"
tripline run log "ml/mnist/$RUN" --file rows.jsonl
tripline run log "ml/mnist/$RUN" --row '{"_step":2500,"loss":0.0001}'
tripline run finish "ml/mnist/$RUN" --state FAILED
tripline run list ml/mnist
tripline artifact create ml/mnist --collection clf --type model --alias candidate --metadata '{"acc":0.91}'
tripline artifact alias ml/mnist/clf:v0 reviewed
tripline artifact link ml/mnist/clf:v0 ml/models/classifier --alias production
echo "alice_key=$ALICE_KEY"
echo done
`;
    const r = await new Promise<Result>((resolve) => {
      execFile(
        'bash',
        ['-c', script],
        {
          cwd: scratch,
          env: { ...process.env, NO_COLOR: '1', TRIPLINE_URL: server.url, TRIPLINE_API_KEY: server.apiKey },
          timeout: 150_000,
        },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(r.stderr.replace(/\r?\d+\/2500 rows/g, '').trim(), r.stderr).toBe('');
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout.split('\n');
    expect(out).toEqual(
      expect.arrayContaining([
        'created team ml',
        'created ml/mnist',
        'created ml/models',
        'run=baseline-1',
        'logged 2500 rows to ml/mnist/baseline-1',
        'logged 1 rows to ml/mnist/baseline-1',
        'ml/mnist/baseline-1 is FAILED',
        'clf:v0 [latest, candidate]',
        'ml/mnist/clf:v0 aliases: candidate, latest, reviewed',
        'linked ml/mnist/clf:v0 as ml/models/classifier:v0',
        'done',
      ]),
    );
    expect(r.stdout).toMatch(/baseline-1 .*baseline .*FAILED .*alice/);

    // What the script did is what the server holds, as alice (the admin is not in her team).
    expect((await client(server.url, server.apiKey)('GET', '/teams/ml')).status).toBe(404);
    const aliceKey = /^alice_key=([0-9a-f]{40})$/m.exec(r.stdout)?.[1];
    expect(aliceKey).toBeDefined();
    const api = client(server.url, aliceKey!);
    const run = await api('GET', '/teams/ml/projects/mnist/runs/baseline-1');
    expect(run.body).toMatchObject({
      id: 'baseline-1',
      displayName: 'baseline',
      state: 'FAILED',
      author: 'alice',
    });
    expect(run.body.summary).toMatchObject({ _step: 2500, loss: 0.0001 });
    const hist = await api('GET', '/teams/ml/projects/mnist/runs/baseline-1/history?keys=loss');
    expect(hist.body.rows).toHaveLength(2501);
    expect(hist.body.rows[1234]).toEqual({ _step: 1234, loss: 1 / 1235 });
    const events = await api('GET', '/teams/ml/events?limit=1000');
    expect(events.body.items.map((e: any) => e.type)).toEqual([
      'RUN_STATE',
      'RUN_METRICS_APPENDED',
      'RUN_METRICS_APPENDED',
      'RUN_METRICS_APPENDED',
      'RUN_METRICS_APPENDED',
      'RUN_STATE',
      'CREATE_ARTIFACT',
      'ADD_ARTIFACT_ALIAS',
      'ADD_ARTIFACT_ALIAS',
      'LINK_ARTIFACT',
      'ADD_ARTIFACT_ALIAS',
    ]);
    const reg = await api('GET', '/teams/ml/registries/models/collections');
    expect(reg.body.items[0]).toMatchObject({
      collection: 'classifier',
      versions: [{ version: 'v0', aliases: ['latest', 'production'], source: 'ml/mnist/clf:v0' }],
    });
  });
});
