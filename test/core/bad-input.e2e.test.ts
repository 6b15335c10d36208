import { createHash } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';

/**
 * Bad input against a real server process: every rejected request answers 4xx with
 * `{"error":{"code","message","field"?}}` naming the offending field, and leaves every table of the
 * database exactly as it was (row counts and contents).
 */

/** A read-only view of the server's database, opened next to the running server. */
async function openReadOnly(server: ServerProcess) {
  if (server.databaseUrl) {
    const c = new pg.Client({ connectionString: server.databaseUrl });
    await c.connect();
    return {
      async snapshot() {
        await c.query('begin isolation level repeatable read read only');
        try {
          const tables = await c.query<{ name: string }>(
            'select tablename as name from pg_tables where schemaname = current_schema() order by tablename',
          );
          const out: Record<string, TableState> = {};
          for (const { name } of tables.rows)
            out[name] = tableState((await c.query(`select * from "${name}"`)).rows);
          return out;
        } finally {
          await c.query('commit');
        }
      },
      close: () => c.end(),
    };
  }
  // WAL: a read-only connection reads the latest committed state while the server writes.
  const db = new SQLite(join(server.dataDir, 'tripline.db'), { readonly: true, fileMustExist: true });
  const read = db.transaction(() => {
    const tables = db
      .prepare(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name",
      )
      .all() as Array<{ name: string }>;
    const out: Record<string, TableState> = {};
    for (const { name } of tables) out[name] = tableState(db.prepare(`select * from "${name}"`).all());
    return out;
  });
  return {
    snapshot: async () => read(),
    close: async () => db.close(),
  };
}

interface TableState {
  rows: number;
  sha256: string;
}

function tableState(rows: unknown[]): TableState {
  const lines = rows.map((r) => JSON.stringify(r)).sort();
  return {
    rows: rows.length,
    sha256: createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16),
  };
}

/**
 * POSTs a large body in 1 MiB chunks without Content-Length, on a connection of its own, and stops
 * sending once the answer is in. The server answers a chunked body over the limit and then closes
 * the connection with the rest unread; TCP may then reset the connection before the client has read
 * the answer (EPIPE/ECONNRESET) — that attempt is retried.
 */
async function postChunked(base: string, path: string, key: string, body: Buffer) {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
        const req = http.request(`${base}${path}`, { method: 'POST', agent: false, headers });
        let answered = false;
        req.on('response', (res) => {
          answered = true;
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body: text });
            req.destroy();
          });
        });
        req.on('error', (err) => {
          if (!answered) reject(err);
        });
        (async () => {
          for (let i = 0; i < body.length && !answered && !req.destroyed; i += 1 << 20) {
            if (!req.write(body.subarray(i, i + (1 << 20)))) {
              await new Promise((r) => {
                req.once('drain', r);
                req.once('response', r);
                req.once('close', r);
              });
            }
          }
          if (!answered && !req.destroyed) req.end();
        })();
      });
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

type Who = 'admin' | 'member' | 'outsider' | 'none' | 'badkey';

interface Case {
  name: string;
  method: string;
  path: string;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  as?: Who;
  status: number;
  code?: string;
  /** The field the error must name; null: the error names no field. */
  field?: string | null;
}

const rows = (n: number, from = 1000) =>
  Array.from({ length: n }, (_, i) => ({ _step: from + i, loss: 1 / (i + 1), acc: i }));
const withBadRow = (bad: Record<string, unknown>) => rows(100).map((r, i) => (i === 57 ? bad : r));
const RUN = '/teams/ml/projects/mnist/runs/r1';
const ART = '/teams/ml/projects/mnist/artifacts';

const CASES: Case[] = [
  // Malformed bodies.
  {
    name: 'malformed JSON',
    method: 'POST',
    path: '/teams',
    body: '{"name": ',
    status: 400,
    code: 'invalid_request',
    field: null,
  },
  { name: 'JSON array body', method: 'POST', path: '/teams', body: '[1,2]', status: 400, field: null },
  {
    name: 'JSON string body',
    method: 'POST',
    path: `${RUN}/history`,
    body: '"rows"',
    status: 400,
    field: null,
  },
  {
    name: 'truncated history JSON',
    method: 'POST',
    path: `${RUN}/history`,
    body: '{"rows":[{"_step":1,',
    status: 400,
    field: null,
  },
  // Names.
  {
    name: 'team name a number',
    method: 'POST',
    path: '/teams',
    body: { name: 5 },
    status: 400,
    field: 'name',
  },
  { name: 'team name missing', method: 'POST', path: '/teams', body: {}, status: 400, field: 'name' },
  {
    name: 'team name a/b',
    method: 'POST',
    path: '/teams',
    body: { name: 'a/b' },
    status: 400,
    field: 'name',
  },
  { name: 'team name empty', method: 'POST', path: '/teams', body: { name: '' }, status: 400, field: 'name' },
  {
    name: 'team name 200 chars',
    method: 'POST',
    path: '/teams',
    body: { name: 'x'.repeat(200) },
    status: 400,
    field: 'name',
  },
  {
    name: 'team exists',
    method: 'POST',
    path: '/teams',
    body: { name: 'ml' },
    status: 409,
    code: 'conflict',
    field: 'name',
  },
  {
    name: 'project name a/b',
    method: 'POST',
    path: '/teams/ml/projects',
    body: { name: 'a/b' },
    status: 400,
    field: 'name',
  },
  {
    name: 'project name empty',
    method: 'POST',
    path: '/teams/ml/projects',
    body: { name: '' },
    status: 400,
    field: 'name',
  },
  {
    name: 'project name 200 chars',
    method: 'POST',
    path: '/teams/ml/projects',
    body: { name: 'p'.repeat(200) },
    status: 400,
    field: 'name',
  },
  {
    name: 'project exists',
    method: 'POST',
    path: '/teams/ml/projects',
    body: { name: 'mnist' },
    status: 409,
    field: 'name',
  },
  {
    name: 'registry name a number',
    method: 'POST',
    path: '/teams/ml/registries',
    body: { name: 7 },
    status: 400,
    field: 'name',
  },
  {
    name: 'username a/b',
    method: 'POST',
    path: '/users',
    body: { username: 'a/b' },
    status: 400,
    field: 'username',
  },
  {
    name: 'username taken by a team',
    method: 'POST',
    path: '/users',
    body: { username: 'ml' },
    status: 409,
    field: 'username',
  },
  // Runs.
  {
    name: 'run id a number',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { id: 5 },
    status: 400,
    field: 'id',
  },
  {
    name: 'run id a/b',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { id: 'a/b' },
    status: 400,
    field: 'id',
  },
  {
    name: 'run id 200 chars',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { id: 'r'.repeat(200) },
    status: 400,
    field: 'id',
  },
  {
    name: 'run id exists',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { id: 'r1' },
    status: 409,
    field: 'id',
  },
  {
    name: 'run config an array',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { config: [] },
    status: 400,
    field: 'config',
  },
  {
    name: 'run tags a string',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { tags: 'prod' },
    status: 400,
    field: 'tags',
  },
  {
    name: 'run displayName a number',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { displayName: 3 },
    status: 400,
    field: 'displayName',
  },
  {
    name: 'run state unknown',
    method: 'PATCH',
    path: RUN,
    body: { state: 'DONE' },
    status: 400,
    field: 'state',
  },
  { name: 'run state missing', method: 'PATCH', path: RUN, body: {}, status: 400, field: 'state' },
  { name: 'run state a number', method: 'PATCH', path: RUN, body: { state: 1 }, status: 400, field: 'state' },
  {
    name: 'finished run resumed to FAILED',
    method: 'PATCH',
    path: '/teams/ml/projects/mnist/runs/done',
    body: { state: 'FAILED' },
    status: 409,
    field: 'state',
  },
  // Metric history.
  {
    name: 'rows a string',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: 'x' },
    status: 400,
    field: 'rows',
  },
  { name: 'rows missing', method: 'POST', path: `${RUN}/history`, body: {}, status: 400, field: 'rows' },
  {
    name: 'rows empty',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [] },
    status: 400,
    field: 'rows',
  },
  {
    name: 'rows too many',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: rows(10_001) },
    status: 400,
    field: 'rows',
  },
  {
    name: 'row a number',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [5] },
    status: 400,
    field: 'rows[0]',
  },
  {
    name: 'row an array',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [[1]] },
    status: 400,
    field: 'rows[0]',
  },
  {
    name: '_step -1',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [{ _step: -1, loss: 1 }] },
    status: 400,
    field: 'rows[0]._step',
  },
  {
    name: '_step 1.5',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [{ _step: 1.5, loss: 1 }] },
    status: 400,
    field: 'rows[0]._step',
  },
  {
    name: '_step a string',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [{ _step: '3', loss: 1 }] },
    status: 400,
    field: 'rows[0]._step',
  },
  {
    name: '_step 2^31',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [{ _step: 2 ** 31, loss: 1 }] },
    status: 400,
    field: 'rows[0]._step',
  },
  {
    name: 'empty metric name',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: [{ _step: 9, '': 1 }] },
    status: 400,
    field: 'rows[0]',
  },
  {
    name: 'row 57 of 100 has _step 1.5',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: withBadRow({ _step: 1.5, loss: 1 }) },
    status: 400,
    field: 'rows[57]._step',
  },
  {
    name: 'row 57 of 100 is null',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: withBadRow(null as never) },
    status: 400,
    field: 'rows[57]',
  },
  {
    name: 'row 57 of 100 has a 300-char metric name',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: withBadRow({ ['m'.repeat(300)]: 1 }) },
    status: 400,
    field: 'rows[57]',
  },
  {
    name: 'history to a finished run',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs/done/history',
    body: { rows: rows(3) },
    status: 409,
    field: 'state',
  },
  {
    name: 'system rows a string',
    method: 'POST',
    path: `${RUN}/system`,
    body: { rows: 'x' },
    status: 400,
    field: 'rows',
  },
  // Artifacts.
  {
    name: 'metadata an array',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', metadata: [] },
    status: 400,
    field: 'metadata',
  },
  {
    name: 'metadata a string',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', metadata: 'x' },
    status: 400,
    field: 'metadata',
  },
  {
    name: 'metadata over 64 KiB',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', metadata: { x: 'y'.repeat(70_000) } },
    status: 400,
    field: 'metadata',
  },
  {
    name: 'aliases a string',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', aliases: 'prod' },
    status: 400,
    field: 'aliases',
  },
  {
    name: 'alias "bad alias!"',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', aliases: ['bad alias!'] },
    status: 400,
    field: 'aliases[0]',
  },
  {
    name: 'alias "v3"',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', aliases: ['ok', 'v3'] },
    status: 400,
    field: 'aliases[1]',
  },
  {
    name: 'alias "latest"',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', aliases: ['latest'] },
    status: 400,
    field: 'aliases[0]',
  },
  {
    name: 'alias a number',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', aliases: [3] },
    status: 400,
    field: 'aliases[0]',
  },
  {
    name: 'tag empty',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', tags: [''] },
    status: 400,
    field: 'tags[0]',
  },
  {
    name: 'collection a/b',
    method: 'POST',
    path: ART,
    body: { collection: 'a/b', type: 'model' },
    status: 400,
    field: 'collection',
  },
  {
    name: 'collection missing',
    method: 'POST',
    path: ART,
    body: { type: 'model' },
    status: 400,
    field: 'collection',
  },
  {
    name: 'type a number',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 5 },
    status: 400,
    field: 'type',
  },
  {
    name: 'type differs from the collection',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'dataset' },
    status: 409,
    field: 'type',
  },
  {
    name: 'digest a number',
    method: 'POST',
    path: ART,
    body: { collection: 'clf', type: 'model', digest: 5 },
    status: 400,
    field: 'digest',
  },
  {
    name: 'add alias "bad alias!"',
    method: 'POST',
    path: `${ART}/clf/v0/aliases`,
    body: { alias: 'bad alias!' },
    status: 400,
    field: 'alias',
  },
  {
    name: 'add alias "v3"',
    method: 'POST',
    path: `${ART}/clf/v0/aliases`,
    body: { alias: 'v3' },
    status: 400,
    field: 'alias',
  },
  {
    name: 'add alias "latest"',
    method: 'POST',
    path: `${ART}/clf/v0/aliases`,
    body: { alias: 'latest' },
    status: 400,
    field: 'alias',
  },
  {
    name: 'add alias missing',
    method: 'POST',
    path: `${ART}/clf/v0/aliases`,
    body: {},
    status: 400,
    field: 'alias',
  },
  {
    name: 'add alias to a bad version',
    method: 'POST',
    path: `${ART}/clf/x1/aliases`,
    body: { alias: 'prod' },
    status: 400,
    field: 'version',
  },
  {
    name: 'add alias to a missing version',
    method: 'POST',
    path: `${ART}/clf/v99/aliases`,
    body: { alias: 'prod' },
    status: 404,
    field: null,
  },
  {
    name: 'add tag a number',
    method: 'POST',
    path: `${ART}/clf/v0/tags`,
    body: { tag: 5 },
    status: 400,
    field: 'tag',
  },
  {
    name: 'remove a missing tag',
    method: 'DELETE',
    path: `${ART}/clf/v0/tags/nope`,
    status: 404,
    field: null,
  },
  {
    name: 'link source malformed',
    method: 'POST',
    path: '/teams/ml/registries/models/collections/c/links',
    body: { source: 'clf' },
    status: 400,
    field: 'source',
  },
  {
    name: 'link aliases a string',
    method: 'POST',
    path: '/teams/ml/registries/models/collections/c/links',
    body: { source: 'ml/mnist/clf:v0', aliases: 'prod' },
    status: 400,
    field: 'aliases',
  },
  {
    name: 'link alias "latest"',
    method: 'POST',
    path: '/teams/ml/registries/models/collections/c/links',
    body: { source: 'ml/mnist/clf:v0', aliases: ['latest'] },
    status: 400,
    field: 'aliases[0]',
  },
  {
    name: 'link a missing source version',
    method: 'POST',
    path: '/teams/ml/registries/models/collections/c/links',
    body: { source: 'ml/mnist/clf:v42' },
    status: 404,
    field: null,
  },
  {
    name: 'link collection a/b',
    method: 'POST',
    path: '/teams/ml/registries/models/collections/a%2Fb/links',
    body: { source: 'ml/mnist/clf:v0' },
    status: 400,
    field: 'collection',
  },
  // Membership and paging.
  {
    name: 'role unknown',
    method: 'PUT',
    path: '/teams/ml/members/carol',
    body: { role: 'owner' },
    status: 400,
    field: 'role',
  },
  {
    name: 'member unknown user',
    method: 'PUT',
    path: '/teams/ml/members/nobody',
    body: { role: 'member' },
    status: 404,
    field: null,
  },
  {
    name: 'demote the last admin',
    method: 'PUT',
    path: '/teams/ml/members/admin',
    body: { role: 'member' },
    status: 409,
    field: 'role',
  },
  { name: 'events after -1', method: 'GET', path: '/teams/ml/events?after=-1', status: 400, field: 'after' },
  { name: 'events limit 0', method: 'GET', path: '/teams/ml/events?limit=0', status: 400, field: 'limit' },
  {
    name: 'runs limit abc',
    method: 'GET',
    path: '/teams/ml/projects/mnist/runs?limit=abc',
    status: 400,
    field: 'limit',
  },
  {
    name: 'runs cursor garbage',
    method: 'GET',
    path: '/teams/ml/projects/mnist/runs?cursor=@@',
    status: 400,
    field: 'cursor',
  },
  // Unknown things: 404.
  { name: 'unknown team', method: 'GET', path: '/teams/nope', status: 404, code: 'not_found', field: null },
  {
    name: 'project in an unknown team',
    method: 'POST',
    path: '/teams/nope/projects',
    body: { name: 'p' },
    status: 404,
    field: null,
  },
  {
    name: 'run in an unknown team',
    method: 'POST',
    path: '/teams/nope/projects/mnist/runs',
    body: {},
    status: 404,
    field: null,
  },
  {
    name: 'run in an unknown project',
    method: 'POST',
    path: '/teams/ml/projects/nope/runs',
    body: {},
    status: 404,
    field: null,
  },
  {
    name: 'history to an unknown run',
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs/nope/history',
    body: { rows: rows(3) },
    status: 404,
    field: null,
  },
  { name: 'unknown route', method: 'POST', path: '/nothing-here', body: {}, status: 404, field: null },
  // Authentication and roles.
  {
    name: 'no API key',
    method: 'POST',
    path: '/teams',
    body: { name: 'sneaky' },
    as: 'none',
    status: 401,
    code: 'unauthenticated',
    field: null,
  },
  {
    name: 'wrong API key',
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: rows(3) },
    as: 'badkey',
    status: 401,
    field: null,
  },
  {
    name: "outsider reads another team's project",
    method: 'GET',
    path: '/teams/ml/projects/mnist/runs',
    as: 'outsider',
    status: 404,
    field: null,
  },
  {
    name: "outsider logs to another team's run",
    method: 'POST',
    path: `${RUN}/history`,
    body: { rows: rows(3) },
    as: 'outsider',
    status: 404,
    field: null,
  },
  {
    name: "outsider creates a run in another team's project",
    method: 'POST',
    path: '/teams/ml/projects/mnist/runs',
    body: { id: 'x' },
    as: 'outsider',
    status: 404,
    field: null,
  },
  {
    name: "outsider reads another team's events",
    method: 'GET',
    path: '/teams/ml/events',
    as: 'outsider',
    status: 404,
    field: null,
  },
  {
    name: 'member adds a member (admin only)',
    method: 'PUT',
    path: '/teams/ml/members/carol',
    body: { role: 'member' },
    as: 'member',
    status: 403,
    code: 'forbidden',
    field: null,
  },
  {
    name: 'member promotes self (admin only)',
    method: 'PUT',
    path: '/teams/ml/members/bob',
    body: { role: 'admin' },
    as: 'member',
    status: 403,
    field: null,
  },
  {
    name: 'member creates a user (instance admin only)',
    method: 'POST',
    path: '/users',
    body: { username: 'eve' },
    as: 'member',
    status: 403,
    field: null,
  },
];

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`bad input on ${dialect}`, () => {
    let server: ServerProcess;
    let db: Awaited<ReturnType<typeof openReadOnly>>;
    const keys: Record<Who, string> = {
      admin: '',
      member: '',
      outsider: '',
      none: '',
      badkey: 'not-a-valid-key',
    };

    beforeAll(async () => {
      server = await startServerProcess({ dialect });
      const api = client(server.url, server.apiKey);
      keys.admin = server.apiKey;
      const ok = async (method: string, path: string, body?: unknown) => {
        const r = await api(method, path, body);
        if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body;
      };
      keys.member = (await ok('POST', '/users', { username: 'bob' })).apiKey;
      keys.outsider = (await ok('POST', '/users', { username: 'carol' })).apiKey;
      await ok('POST', '/teams', { name: 'ml' });
      await ok('PUT', '/teams/ml/members/bob', { role: 'member' });
      await ok('POST', '/teams/ml/projects', { name: 'mnist' });
      await ok('POST', '/teams/ml/registries', { name: 'models' });
      await ok('POST', '/teams/ml/projects/mnist/runs', { id: 'r1' });
      await ok('POST', `${RUN}/history`, { rows: rows(10, 0) });
      await ok('POST', '/teams/ml/projects/mnist/runs', { id: 'done' });
      await ok('PATCH', '/teams/ml/projects/mnist/runs/done', { state: 'FINISHED' });
      await ok('POST', ART, { collection: 'clf', type: 'model', aliases: ['candidate'], tags: ['t'] });
      await ok('POST', '/teams/ml/registries/models/collections/c/links', { source: 'ml/mnist/clf:v0' });
      db = await openReadOnly(server);
      // Background stages (the engine's cursor) catch up on the setup's events first.
      let last = '';
      for (let i = 0; i < 100; i++) {
        const now = JSON.stringify(await db.snapshot());
        if (now === last) break;
        last = now;
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    afterAll(async () => {
      await db?.close();
      await server?.stop();
    });

    it('the snapshot sees every table, with data in it', async () => {
      const snap = await db.snapshot();
      for (const t of [
        'users',
        'teams',
        'team_members',
        'projects',
        'runs',
        'run_history',
        'events',
        'artifact_versions',
        'aliases',
        'tags',
      ]) {
        expect(snap[t]?.rows, t).toBeGreaterThan(0);
      }
      expect(snap.run_history.rows).toBe(10);
    });

    for (const c of CASES) {
      it(`${c.name} → ${c.status}${c.field ? ` naming ${c.field}` : ''}; database unchanged`, async () => {
        const before = await db.snapshot();
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        const who = c.as ?? 'admin';
        if (who !== 'none') headers.authorization = `Bearer ${keys[who]}`;
        const res = await fetch(`${server.url}/api/v1${c.path}`, {
          method: c.method,
          headers,
          body:
            c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
        });
        const text = await res.text();
        expect(res.status, text).toBe(c.status);
        const body = JSON.parse(text);
        expect(Object.keys(body)).toEqual(['error']);
        expect(body.error).toEqual({
          code: c.code ?? expect.any(String),
          message: expect.any(String),
          ...(c.field ? { field: c.field } : {}),
        });
        expect(body.error.message.length).toBeGreaterThan(5);
        expect(await db.snapshot()).toEqual(before);
      });
    }

    it('an 8 MiB+ body is refused with 413, with and without Content-Length; nothing stored', async () => {
      const before = await db.snapshot();
      // Valid JSON, so only its size is wrong: 9 MiB of history rows.
      const big = Buffer.from(JSON.stringify({ rows: [{ _step: 5000, blob: 'x'.repeat(9 * 1024 * 1024) }] }));
      const headers = { authorization: `Bearer ${keys.admin}`, 'content-type': 'application/json' };
      const url = `${server.url}/api/v1${RUN}/history`;
      const sized = await fetch(url, { method: 'POST', headers, body: big });
      expect(sized.status).toBe(413);
      expect((await sized.json()).error).toEqual({ code: 'payload_too_large', message: expect.any(String) });
      // The server drains the unread body and keeps the connection: the next requests on it work.
      for (let i = 0; i < 3; i++)
        expect((await fetch(`${server.url}/api/v1/viewer`, { headers })).status).toBe(200);

      // Chunked (no Content-Length): the limit applies while the body streams in.
      const chunked = await postChunked(server.url, `/api/v1${RUN}/history`, keys.admin, big);
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body).error).toEqual({
        code: 'payload_too_large',
        message: expect.any(String),
      });
      expect(await db.snapshot()).toEqual(before);

      // Just under the limit is accepted (the limit is not set lower than documented).
      const under = Buffer.from(
        JSON.stringify({ rows: [{ _step: 5000, blob: 'x'.repeat(7 * 1024 * 1024) }] }),
      );
      expect((await fetch(url, { method: 'POST', headers, body: under })).status).toBe(200);
    });

    it('malformed Authorization headers are 401, not 500', async () => {
      for (const authorization of [
        'Bearer',
        'Bearer ',
        'Basic !!!',
        `Basic ${Buffer.from('no-colon').toString('base64')}`,
        'Token abc',
      ]) {
        const res = await fetch(`${server.url}/api/v1/viewer`, { headers: { authorization } });
        expect(res.status, authorization).toBe(401);
        expect((await res.json()).error.code).toBe('unauthenticated');
      }
    });

    it('after all that, the server still accepts good input', async () => {
      const api = client(server.url, keys.admin);
      const before = await db.snapshot();
      const r = await api('POST', `${RUN}/history`, { rows: rows(3, 100) });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ count: 3, fromStep: 100, toStep: 102 });
      // The snapshot does see a change (so "unchanged" above means something).
      const after = await db.snapshot();
      expect(after.run_history.rows).toBe(before.run_history.rows + 3);
      expect(after.events.rows).toBe(before.events.rows + 1);
      expect(after.runs.sha256).not.toBe(before.runs.sha256);
    });
  });
}
