import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFileStreamBody } from '../../src/api/wandb/file-stream.js';
import { getProject } from '../../src/tracking/projects.js';
import { appendMetrics, createRun, parseHistoryRows, readHistory } from '../../src/tracking/runs.js';
import { createUser } from '../../src/tracking/users.js';
import {
  applyFileStream,
  parseLenientJson,
  unwrapConfig,
  upsertWandbRun,
} from '../../src/tracking/wandb-runs.js';
import { DIALECTS, openTestStore, type TestStore } from '../helpers/store.js';

const history = (offset: number, rows: object[] | string[]) =>
  JSON.stringify({
    files: {
      'wandb-history.jsonl': {
        offset,
        content: rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))),
      },
    },
  });

describe('lenient JSON (NaN and Infinity as Python writes them)', () => {
  it('reads the bare tokens as numbers, outside strings only', () => {
    const v = parseLenientJson(
      '{"a": NaN, "b": Infinity, "c": -Infinity, "d": [1, NaN], "s": "NaN Infinity \\" -Infinity", "e": 1e3}',
    ) as Record<string, unknown>;
    expect(v.a).toBeNaN();
    expect(v.b).toBe(Infinity);
    expect(v.c).toBe(-Infinity);
    expect((v.d as number[])[1]).toBeNaN();
    expect(v.s).toBe('NaN Infinity " -Infinity');
    expect(v.e).toBe(1000);
  });
  it('still rejects what is not JSON', () => {
    expect(() => parseLenientJson('{"a": NaNa}')).toThrow();
    expect(() => parseLenientJson('{"a": nan}')).toThrow();
    expect(() => parseLenientJson('{"a": Infinity')).toThrow();
    expect(() => parseLenientJson('NaN garbage')).toThrow();
  });
});

describe('file_stream body parsing', () => {
  it('renames system.* events keys to system/* and numbers events rows by line', () => {
    const chunk = parseFileStreamBody(
      JSON.stringify({
        files: {
          'wandb-events.jsonl': {
            offset: 7,
            content: ['{"system.cpu": 12.5, "system.gpu.0.gpu": 3, "_wandb": true, "_runtime": 4}'],
          },
          'output.log': { offset: 0, content: ['ERROR something'] },
        },
        uploaded: [],
      }),
    );
    expect(chunk.events).toEqual({
      offset: 7,
      rows: [{ step: 7, values: { 'system/cpu': 12.5, 'system/gpu.0.gpu': 3, _runtime: 4 } }],
    });
    expect(chunk.history).toBeUndefined();
  });
  it('rejects malformed bodies with a field', () => {
    const bad: Array<[string, string]> = [
      ['not json', ''],
      ['[]', ''],
      ['{"files": []}', 'files'],
      ['{"files": {"wandb-history.jsonl": {"offset": -1, "content": []}}}', 'offset'],
      ['{"files": {"wandb-history.jsonl": {"offset": 0, "content": "x"}}}', 'content'],
      ['{"files": {"wandb-history.jsonl": {"offset": 0, "content": [1]}}}', 'content'],
      [history(0, ['{"_step": 0, "loss": 1}', '{"_step": 1, "loss": ']), 'content[1]'],
      [history(0, ['[1,2]']), 'content[0]'],
      [history(0, [{ _step: -1, loss: 1 }]), '_step'],
      ['{"complete": true}', 'exitcode'],
      ['{"complete": "yes", "exitcode": 0}', 'complete'],
    ];
    for (const [body, field] of bad) {
      expect(() => parseFileStreamBody(body), body).toThrow();
      try {
        parseFileStreamBody(body);
      } catch (err) {
        expect((err as { status: number }).status).toBe(400);
        if (field) expect(String((err as { field?: string }).field)).toContain(field);
      }
    }
  });
  it('unwraps Python-style config values', () => {
    expect(unwrapConfig({ lr: { value: 0.1, desc: null }, plain: 3, obj: { value: 1, other: 2 } })).toEqual({
      lr: 0.1,
      plain: 3,
      obj: { value: 1, other: 2 },
    });
  });
});

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`W&B runs on ${dialect}`, () => {
    let store: TestStore;
    let actor: { id: string; username: string };
    beforeAll(async () => {
      store = await openTestStore(dialect);
      actor = (await createUser(store, 'alice')).user;
    });
    afterAll(async () => store?.destroy());

    const events = async (type?: string) =>
      (await store.db.selectFrom('events').selectAll().orderBy('position').execute())
        .filter((e) => !type || e.type === type)
        .map((e) => ({ type: e.type, details: JSON.parse(e.details) }));
    const stream = (run: string, body: string) =>
      applyFileStream(store, actor, 'alice', 'wb', run, parseFileStreamBody(body));

    it('UpsertBucket creates the project and run, then updates it', async () => {
      const first = await upsertWandbRun(store, actor, {
        name: 'r1',
        project: 'wb',
        entity: '',
        config: '{"lr": {"value": 0.1, "desc": null}}',
      });
      expect(first.inserted).toBe(true);
      expect(first.run).toMatchObject({
        name: 'r1',
        displayName: 'r1',
        state: 'RUNNING',
        config: { lr: 0.1 },
      });
      const again = await upsertWandbRun(store, actor, {
        name: 'r1',
        project: 'wb',
        entity: 'alice',
        displayName: 'baseline',
        tags: ['a', 'b', 'a'],
        config: '{"lr": 0.2}',
        summaryMetrics: '{"best": NaN, "acc": 0.5}',
      });
      expect(again.inserted).toBe(false);
      expect(again.run).toMatchObject({ displayName: 'baseline', tags: ['a', 'b'], config: { lr: 0.2 } });
      expect(again.run.summary.best).toBeNaN();
      const done = await upsertWandbRun(store, actor, { name: 'r1', project: 'wb', state: 'finished' });
      expect(done.run.state).toBe('FINISHED');
      const states = (await events('RUN_STATE')).map((e) => e.details.newState);
      expect(states).toEqual(['RUNNING', 'FINISHED']);
      await expect(
        upsertWandbRun(store, actor, { name: 'r1', project: 'wb', config: '[1]' }),
      ).rejects.toThrow(/config/);
      await expect(
        upsertWandbRun(store, actor, { name: 'r9', project: 'wb', entity: 'nope' }),
      ).rejects.toThrow(/not found/);
    });

    it('stores history, summary and system metrics; a resent or overlapping chunk adds nothing', async () => {
      await upsertWandbRun(store, actor, { name: 'r2', project: 'wb' });
      const rows = Array.from({ length: 4 }, (_, i) => ({ _step: i, loss: 1 / (i + 1), _runtime: i }));
      const before = (await events('RUN_METRICS_APPENDED')).length;
      const r1 = await stream('r2', history(0, rows));
      expect(r1).toMatchObject({ historyRows: 4, duplicateLines: 0 });
      const r2 = await stream('r2', history(0, rows));
      expect(r2).toMatchObject({ historyRows: 0, duplicateLines: 4 });
      // Overlap: lines 2..5 after 0..3 → only 4 and 5 are new.
      const more = Array.from({ length: 4 }, (_, i) => ({ _step: i + 2, loss: 0.1 * (i + 2) }));
      expect(await stream('r2', history(2, more))).toMatchObject({ historyRows: 2, duplicateLines: 2 });
      const stored = await readHistory(store, actor, 'alice', 'wb', 'r2', {});
      expect(stored.map((r) => r._step)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(stored[3]).toEqual({ _step: 3, loss: 0.25, _runtime: 3 });
      expect(stored[5]).toEqual({ _step: 5, loss: 0.5 });
      const appended = (await events('RUN_METRICS_APPENDED')).slice(before);
      expect(appended.map((e) => [e.details.fromStep, e.details.toStep, e.details.count])).toEqual([
        [0, 3, 4],
        [4, 5, 2],
      ]);

      await stream(
        'r2',
        JSON.stringify({
          files: {
            'wandb-events.jsonl': {
              offset: 0,
              content: ['{"system.cpu": 50, "_wandb": true}', '{"system.cpu": 70}'],
            },
            'wandb-summary.json': { offset: 0, content: ['{"loss": 0.01, "best_acc": Infinity}'] },
          },
        }),
      );
      const sys = await readHistory(store, actor, 'alice', 'wb', 'r2', { table: 'system' });
      expect(sys).toEqual([
        { _step: 0, 'system/cpu': 50 },
        { _step: 1, 'system/cpu': 70 },
      ]);
      const run = await store.db
        .selectFrom('runs')
        .selectAll()
        .where('name', '=', 'r2')
        .executeTakeFirstOrThrow();
      expect(JSON.parse(run.summary)).toMatchObject({
        loss: 0.01,
        best_acc: 'Infinity',
        _step: 5,
        'system/cpu': 70,
      });
      expect(JSON.parse(run.stream_offsets)).toEqual({ 'wandb-history.jsonl': 6, 'wandb-events.jsonl': 2 });
      const sysEvent = (await events('RUN_METRICS_APPENDED')).at(-1)!;
      expect(sysEvent.details).toMatchObject({ table: 'system', metrics: ['system/cpu'], count: 2 });
    });

    it('writes the same rows and METRICS_APPENDED event as the REST API', async () => {
      const p = await getProject(store, actor, 'alice', 'wb', 'project');
      await createRun(store, actor, p, { id: 'rest' });
      await upsertWandbRun(store, actor, { name: 'wire', project: 'wb' });
      const rows = [
        { _step: 0, loss: 0.5 },
        { _step: 1, loss: Number.NaN },
      ];
      await appendMetrics(store, actor, p, 'rest', parseHistoryRows(rows));
      await stream('wire', history(0, ['{"_step": 0, "loss": 0.5}', '{"_step": 1, "loss": NaN}']));
      const [rest, wire] = (await events('RUN_METRICS_APPENDED')).slice(-2).map((e) => e.details);
      expect({ ...wire, runId: 'x', runName: 'x' }).toEqual({ ...rest, runId: 'x', runName: 'x' });
      const restRows = await store.db
        .selectFrom('run_history')
        .innerJoin('runs', 'runs.id', 'run_history.run_id')
        .select(['runs.name', 'run_history.step', 'run_history.data'])
        .where('runs.name', 'in', ['rest', 'wire'])
        .orderBy('runs.name')
        .orderBy('run_history.step')
        .execute();
      const byRun = (n: string) => restRows.filter((r) => r.name === n).map((r) => [Number(r.step), r.data]);
      expect(byRun('wire')).toEqual(byRun('rest'));
      expect(byRun('wire')[1][1]).toBe('{"loss":"NaN"}');
    });

    it('complete moves the run to FINISHED or FAILED once; a resent complete is a no-op', async () => {
      for (const [run, code, state] of [
        ['ok', 0, 'FINISHED'],
        ['bad', 3, 'FAILED'],
      ] as const) {
        await upsertWandbRun(store, actor, { name: run, project: 'wb' });
        const body = JSON.stringify({ complete: true, exitcode: code });
        expect((await stream(run, body)).state).toBe(state);
        expect((await stream(run, body)).state).toBe(state);
        const mine = (await events('RUN_STATE')).filter((e) => e.details.runId === run);
        expect(mine.map((e) => e.details.newState)).toEqual(['RUNNING', state]);
      }
      // New rows for a finished run are refused, atomically; old ones (a resend) are fine.
      await expect(stream('ok', history(0, [{ _step: 0, loss: 1 }]))).rejects.toThrow(/FINISHED/);
      const run = await store.db
        .selectFrom('runs')
        .selectAll()
        .where('name', '=', 'ok')
        .executeTakeFirstOrThrow();
      expect(run.stream_offsets).toBe('{}');
    });
  });
}
