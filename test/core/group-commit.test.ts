import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_APPENDED } from '../../src/model/events.js';
import { writeTransaction } from '../../src/store/group-commit.js';
import { createProject, getProject, type ProjectRef } from '../../src/tracking/projects.js';
import { appendMetrics, createRun, parseHistoryRows, setRunState } from '../../src/tracking/runs.js';
import { createTeam } from '../../src/tracking/teams.js';
import { createUser } from '../../src/tracking/users.js';
import { DIALECTS, openTestStore, type TestStore } from '../helpers/store.js';

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`write transactions (group commit) on ${dialect}`, () => {
    let store: TestStore;
    let actor: { id: string; username: string };
    let p: ProjectRef;
    beforeAll(async () => {
      store = await openTestStore(dialect);
      actor = (await createUser(store, 'alice')).user;
      await createTeam(store, actor, 'ml');
      await createProject(store, actor, 'ml', 'gc', 'project');
      p = await getProject(store, actor, 'ml', 'gc', 'project');
    });
    afterAll(async () => store?.destroy());

    it('concurrent appends each get their own result or error; failed ones leave nothing', async () => {
      for (const id of ['a', 'b', 'c', 'done']) await createRun(store, actor, p, { id });
      await setRunState(store, actor, 'ml', 'gc', 'done', 'FINISHED');
      const before = await store.db.selectFrom('events').select('position').execute();
      const rows = (from: number) =>
        parseHistoryRows([
          { _step: from, x: 1 },
          { _step: from + 1, x: 2 },
        ]);
      const results = await Promise.allSettled([
        appendMetrics(store, actor, p, 'a', rows(0)),
        appendMetrics(store, actor, p, 'done', rows(0)),
        appendMetrics(store, actor, p, 'b', rows(0)),
        appendMetrics(store, actor, p, 'missing', rows(0)),
        appendMetrics(store, actor, p, 'a', rows(2)),
        appendMetrics(store, actor, p, 'c', rows(0)),
      ]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value.toStep : r.reason.status))).toEqual([
        1, 409, 1, 404, 3, 1,
      ]);
      const history = await store.db
        .selectFrom('run_history')
        .innerJoin('runs', 'runs.id', 'run_history.run_id')
        .select(['runs.name', 'run_history.step'])
        .where('runs.project_id', '=', p.id)
        .orderBy('runs.name')
        .orderBy('run_history.step')
        .execute();
      expect(history.map((h) => `${h.name}:${h.step}`)).toEqual([
        'a:0',
        'a:1',
        'a:2',
        'a:3',
        'b:0',
        'b:1',
        'c:0',
        'c:1',
      ]);
      const events = await store.db
        .selectFrom('events')
        .select(['position', 'details'])
        .where('type', '=', METRICS_APPENDED)
        .orderBy('position')
        .execute();
      const appended = events
        .filter((e) => !before.some((b) => b.position === e.position))
        .map((e) => JSON.parse(e.details))
        .map((d) => `${d.runId}:${d.fromStep}-${d.toStep}`);
      // SQLite commits them in arrival order; PostgreSQL runs them in parallel transactions.
      if (dialect === 'postgres') appended.sort();
      expect(appended).toEqual(
        dialect === 'sqlite' ? ['a:0-1', 'b:0-1', 'a:2-3', 'c:0-1'] : ['a:0-1', 'a:2-3', 'b:0-1', 'c:0-1'],
      );
    });

    it('a unit that fails after writing is rolled back alone', async () => {
      const insert = (trx: Parameters<Parameters<typeof writeTransaction>[1]>[0], name: string) =>
        trx
          .insertInto('teams')
          .values({ id: `id-${name}`, name, created_at: new Date().toISOString() })
          .execute();
      const results = await Promise.allSettled([
        writeTransaction(store, async (trx) => {
          await insert(trx, 'kept1');
          return 1;
        }),
        writeTransaction(store, async (trx) => {
          await insert(trx, 'dropped');
          throw new Error('boom');
        }),
        writeTransaction(store, async (trx) => {
          await insert(trx, 'ml'); // unique violation (created above): this unit fails, not the others
          return 3;
        }),
        writeTransaction(store, async (trx) => {
          await insert(trx, 'kept2');
          return 4;
        }),
      ]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([
        1,
        'rejected',
        'rejected',
        4,
      ]);
      expect((results[1] as PromiseRejectedResult).reason.message).toBe('boom');
      const teams = await store.db
        .selectFrom('teams')
        .select('name')
        .where('name', 'in', ['kept1', 'kept2', 'dropped'])
        .orderBy('name')
        .execute();
      expect(teams.map((t) => t.name)).toEqual(['kept1', 'kept2']);
    });

    // Group commit exists on SQLite only (PostgreSQL commits each request alone): no PG variant.
    if (dialect === 'sqlite') {
      it('resolves only once the data is committed', async () => {
        const reader = new SQLite(join(store.dataDir, 'tripline.db'), { readonly: true });
        try {
          const seen = await Promise.all(
            ['v1', 'v2', 'v3'].map((name) =>
              writeTransaction(store, async (trx) => {
                await sql`insert into teams (id, name, created_at) values (${`id-${name}`}, ${name}, '')`.execute(
                  trx,
                );
              }).then(() => reader.prepare('select count(*) as n from teams where name = ?').get(name)),
            ),
          );
          expect(seen).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
        } finally {
          reader.close();
        }
      });
    }
  });
}
