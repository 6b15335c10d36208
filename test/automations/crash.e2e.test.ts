import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.js';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';

/**
 * Exactly-once matching across kill -9: a backlog of 10,000 events is written while no engine runs
 * (TRIPLINE_ROLE=api); then a server with the engine is killed twice while it works through the
 * backlog and restarted. The executions must be exactly the matches a plain reference computes
 * from the event log: none lost, none duplicated.
 */

const TARGET_EVENTS = 10_000;
const TAGS_PER_VERSION = 24; // one request = CREATE_ARTIFACT + 24 ADD_ARTIFACT_TAG events
const RUNS = 200;

type Body = Record<string, unknown>;
const noop = { type: 'NO_OP' };

/** The automations under test: NO_OP, unlimited rate, so only conditions decide. */
const AUTOMATIONS: Body[] = [
  {
    name: 'tag-keep-p1',
    scope: { type: 'PROJECT', team: 'ml', project: 'p1' },
    event: { type: 'ADD_ARTIFACT_TAG', filter: { tag: { $regex: '^keep' } } },
  },
  {
    name: 'tag-p1-c1',
    scope: { type: 'ARTIFACT_COLLECTION', team: 'ml', project: 'p1', collection: 'c1' },
    event: { type: 'ADD_ARTIFACT_TAG' },
  },
  {
    name: 'tag-7-team',
    scope: { type: 'TEAM', team: 'ml' },
    event: { type: 'ADD_ARTIFACT_TAG', filter: '{"$and":[{"tag":{"$contains":"7"}}]}' },
  },
  {
    name: 'tag-disabled',
    enabled: false,
    scope: { type: 'TEAM', team: 'ml' },
    event: { type: 'ADD_ARTIFACT_TAG' },
  },
  {
    name: 'create-p2',
    scope: { type: 'PROJECT', team: 'ml', project: 'p2' },
    event: { type: 'CREATE_ARTIFACT' },
  },
  {
    name: 'create-p1-c2',
    scope: { type: 'ARTIFACT_COLLECTION', team: 'ml', project: 'p1', collection: 'c2' },
    event: { type: 'CREATE_ARTIFACT' },
  },
  {
    name: 'failed-team',
    scope: { type: 'TEAM', team: 'ml' },
    event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
  },
  {
    name: 'done-p1',
    scope: { type: 'PROJECT', team: 'ml', project: 'p1' },
    event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FINISHED', 'FAILED'] } } },
  },
  {
    name: 'running-even',
    scope: { type: 'TEAM', team: 'ml' },
    event: {
      type: 'RUN_STATE',
      filter: {
        run_filter: { display_name: { $regex: '-even$' } },
        run_state_filter: { states: ['RUNNING'] },
      },
    },
  },
  {
    name: 'loss-spike-p1',
    scope: { type: 'PROJECT', team: 'ml', project: 'p1' },
    event: {
      type: 'RUN_METRIC',
      filter: { threshold_filter: { name: 'loss', cmp_op: '$gt', threshold: 100 } },
    },
  },
];

interface LogEntry {
  position: number;
  type: string;
  details: Record<string, any>;
}

/** The plain reference: which automations an event must fire, written independently of the engine. */
function expectedMatches(e: LogEntry, finalState: Map<string, string>, spiked: Set<string>): string[] {
  const d = e.details;
  const out: string[] = [];
  switch (e.type) {
    case 'ADD_ARTIFACT_TAG':
      if (d.project === 'p1' && d.tag.startsWith('keep')) out.push('tag-keep-p1');
      if (d.project === 'p1' && d.collection === 'c1') out.push('tag-p1-c1');
      if (d.tag.includes('7')) out.push('tag-7-team');
      break;
    case 'CREATE_ARTIFACT':
      if (d.project === 'p2') out.push('create-p2');
      if (d.project === 'p1' && d.collection === 'c2') out.push('create-p1-c2');
      break;
    case 'RUN_STATE': {
      const failed = d.newState === 'FAILED' || d.newState === 'CRASHED';
      if (failed) out.push('failed-team');
      if (d.project === 'p1' && (failed || d.newState === 'FINISHED')) out.push('done-p1');
      if (d.newState === 'RUNNING' && d.runName.endsWith('-even')) out.push('running-even');
      break;
    }
    case 'RUN_METRICS_APPENDED':
      // One history batch per run; a KILLED run never triggers (it is killed before the engine runs).
      if (d.project === 'p1' && spiked.has(d.runId) && finalState.get(d.runId) !== 'KILLED')
        out.push('loss-spike-p1');
      break;
  }
  return out;
}

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`engine crash recovery on ${dialect}`, () => {
    let server: ServerProcess | undefined;
    let reader: Store | undefined;
    afterAll(async () => {
      await reader?.close();
      await server?.stop();
    });

    it('kill -9 while working through a 10,000-event backlog: no loss, no duplicate', {
      timeout: 300_000,
    }, async () => {
      // 1. API only: automations, then the backlog.
      const env: Record<string, string> = { TRIPLINE_ROLE: 'api' };
      server = await startServerProcess({ dialect, env });
      const api = client(server.url, server.apiKey);
      const ok = async (method: string, path: string, body?: unknown) => {
        const r = await api(method, path, body);
        if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body;
      };
      await ok('POST', '/teams', { name: 'ml' });
      for (const p of ['p1', 'p2']) await ok('POST', '/teams/ml/projects', { name: p });
      for (const a of AUTOMATIONS)
        await ok('POST', '/automations', { action: noop, rateLimitPerHour: 0, ...a });

      const finalState = new Map<string, string>();
      const spiked = new Set<string>();
      const states = ['FINISHED', 'FAILED', 'CRASHED', 'KILLED'] as const;
      const runs = Array.from({ length: RUNS }, (_, i) => i);
      await pool(runs, 4, async (i) => {
        const project = i % 3 === 0 ? 'p2' : 'p1';
        const id = `r${i}`;
        await ok('POST', `/teams/ml/projects/${project}/runs`, {
          id,
          displayName: `run-${i}-${i % 2 === 0 ? 'even' : 'odd'}`,
        });
        const spike = i % 5 === 0;
        if (spike) spiked.add(id);
        await ok('POST', `/teams/ml/projects/${project}/runs/${id}/history`, {
          rows: Array.from({ length: 10 }, (_, s) => ({
            _step: s,
            loss: spike && s === 7 ? 1e3 : 1 / (s + 1),
          })),
        });
        const state = states[i % 4];
        finalState.set(id, state);
        await ok('PATCH', `/teams/ml/projects/${project}/runs/${id}`, { state });
      });
      const versionRequests = Math.ceil((TARGET_EVENTS - RUNS * 3) / (TAGS_PER_VERSION + 1));
      await pool(
        Array.from({ length: versionRequests }, (_, i) => i),
        6,
        async (i) => {
          const project = i % 4 === 3 ? 'p2' : 'p1';
          const collection = `c${(i % 3) + 1}`;
          await ok('POST', `/teams/ml/projects/${project}/artifacts`, {
            collection,
            type: 'model',
            tags: Array.from(
              { length: TAGS_PER_VERSION },
              (_, j) => `${(i + j) % 2 === 0 ? 'keep' : 'drop'}-${i}-${j}`,
            ),
          });
        },
      );

      // The event log as the API shows it, and the reference's answer.
      const log: LogEntry[] = [];
      let after = '0';
      while (true) {
        const page = await ok('GET', `/teams/ml/events?after=${after}&limit=1000`);
        log.push(...page.items);
        if (!page.nextCursor) break;
        after = page.nextCursor;
      }
      expect(log.length).toBeGreaterThanOrEqual(TARGET_EVENTS);
      const lastPosition = log[log.length - 1].position;
      const expected = new Set<string>();
      for (const e of log)
        for (const name of expectedMatches(e, finalState, spiked)) expected.add(`${name}@${e.position}`);
      expect(expected.size).toBeGreaterThan(5000);

      // 2. Stop the API process; start one with the engine and kill it twice mid-backlog.
      await server.crash();
      reader = await openStore({ dataDir: server.dataDir, databaseUrl: server.databaseUrl });
      const db = reader.db;
      const cursor = async () => {
        const r = await db
          .selectFrom('engine_cursors')
          .select('position')
          .where('name', '=', 'engine')
          .executeTakeFirst();
        return Number(r?.position ?? 0);
      };
      expect(await cursor()).toBe(0);
      expect((await db.selectFrom('executions').select('id').limit(1).execute()).length).toBe(0);

      env.TRIPLINE_ROLE = 'all';
      const killedAt: number[] = [];
      for (const fraction of [0.2, 0.55]) {
        await server.restart();
        const deadline = Date.now() + 120_000;
        while ((await cursor()) < lastPosition * fraction) {
          if (Date.now() > deadline)
            throw new Error(`engine stuck at ${await cursor()}:\n${server.output()}`);
          await sleep(5);
        }
        await server.crash();
        killedAt.push(await cursor());
      }
      // The kills really landed inside the backlog.
      expect(killedAt[0]).toBeGreaterThan(0);
      expect(killedAt[1]).toBeGreaterThan(killedAt[0]);
      expect(killedAt[1]).toBeLessThan(lastPosition);

      // 3. Restart and wait for the cursor to reach the end of the log.
      await server.restart();
      const deadline = Date.now() + 180_000;
      while ((await cursor()) < lastPosition) {
        if (Date.now() > deadline) throw new Error(`engine did not catch up:\n${server.output()}`);
        await sleep(50);
      }

      const rows = await db
        .selectFrom('executions')
        .innerJoin('automations', 'automations.id', 'executions.automation_id')
        .select(['automations.name', 'executions.event_position'])
        .execute();
      const seen = new Map<string, number>();
      for (const r of rows) {
        const key = `${r.name}@${Number(r.event_position)}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      const duplicates = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
      const missing = [...expected].filter((k) => !seen.has(k));
      const unexpected = [...seen.keys()].filter((k) => !expected.has(k));
      expect(duplicates.slice(0, 10)).toEqual([]);
      expect(missing.slice(0, 10)).toEqual([]);
      expect(unexpected.slice(0, 10)).toEqual([]);
      expect(rows.length).toBe(expected.size);
      // The per-run guard rows agree with the metric executions.
      const fired = await db.selectFrom('automation_run_fired').select('run_id').execute();
      expect(fired.length).toBe([...expected].filter((k) => k.startsWith('loss-spike-p1@')).length);
      // Per-automation totals read back through the API too.
      const apiAll = client(server.url, server.apiKey);
      const list = await apiAll('GET', '/automations?team=ml');
      const disabled = list.body.items.find((a: { name: string }) => a.name === 'tag-disabled');
      expect(disabled.lastExecutionAt).toBeNull();
      console.log(
        `[crash ${dialect}] ${log.length} events, ${rows.length} executions, killed at cursor ${killedAt.join(' and ')}`,
      );
    });
  });
}
