import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changeArtifact,
  createArtifactVersion,
  linkArtifact,
  listCollections,
  unlinkArtifact,
} from '../../src/tracking/artifacts.js';
import { createProject, getProject } from '../../src/tracking/projects.js';
import {
  appendMetrics,
  createRun,
  parseHistoryRows,
  readHistory,
  setRunState,
} from '../../src/tracking/runs.js';
import { createTeam } from '../../src/tracking/teams.js';
import { createUser } from '../../src/tracking/users.js';
import { DIALECTS, openTestStore, type TestStore } from '../helpers/store.js';

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`store on ${dialect}`, () => {
    let store: TestStore;
    let actor: { id: string; username: string };
    beforeAll(async () => {
      store = await openTestStore(dialect);
      actor = (await createUser(store, 'alice')).user;
      await createTeam(store, actor, 'ml');
      await createProject(store, actor, 'ml', 'mnist', 'project');
      await createProject(store, actor, 'ml', 'models', 'registry');
    });
    afterAll(async () => store?.destroy());

    const events = async () =>
      (await store.db.selectFrom('events').selectAll().orderBy('position').execute()).map((e) => ({
        type: e.type,
        details: JSON.parse(e.details),
        position: Number(e.position),
      }));

    it('run lifecycle appends RUN_STATE events with old and new state; final states only resume', async () => {
      const p = await getProject(store, actor, 'ml', 'mnist', 'project');
      await createRun(store, actor, p, { id: 'life', displayName: 'Life' });
      await setRunState(store, actor, 'ml', 'mnist', 'life', 'FAILED');
      await expect(setRunState(store, actor, 'ml', 'mnist', 'life', 'FINISHED')).rejects.toMatchObject({
        status: 409,
      });
      await setRunState(store, actor, 'ml', 'mnist', 'life', 'RUNNING');
      await setRunState(store, actor, 'ml', 'mnist', 'life', 'RUNNING'); // no-op
      const runEvents = (await events()).filter((e) => e.details.runId === 'life');
      expect(runEvents.map((e) => [e.details.oldState, e.details.newState])).toEqual([
        [null, 'RUNNING'],
        ['RUNNING', 'FAILED'],
        ['FAILED', 'RUNNING'],
      ]);
      expect(runEvents[1].details).toMatchObject({
        team: 'ml',
        project: 'mnist',
        runName: 'Life',
        author: 'alice',
      });
    });

    it('history merges repeated steps, keeps NaN and Infinity, records one event per batch', async () => {
      const p = await getProject(store, actor, 'ml', 'mnist', 'project');
      await createRun(store, actor, p, { id: 'hist' });
      await appendMetrics(
        store,
        actor,
        p,
        'hist',
        parseHistoryRows([
          { _step: 0, loss: 1 },
          { _step: 1, loss: Number.NaN },
        ]),
      );
      await appendMetrics(
        store,
        actor,
        p,
        'hist',
        parseHistoryRows([{ _step: 1, acc: 0.5 }, { loss: Infinity }]),
      );
      const rows = await readHistory(store, actor, 'ml', 'mnist', 'hist', {});
      expect(rows).toEqual([
        { _step: 0, loss: 1 },
        { _step: 1, loss: Number.NaN, acc: 0.5 },
        { _step: 2, loss: Infinity },
      ]);
      const appended = (await events()).filter(
        (e) => e.type === 'RUN_METRICS_APPENDED' && e.details.runId === 'hist',
      );
      expect(appended.map((e) => [e.details.fromStep, e.details.toStep, e.details.count])).toEqual([
        [0, 1, 2],
        [1, 2, 2],
      ]);
    });

    it('versions number v0, v1, … and `latest` follows; aliases move; tag events', async () => {
      const p = await getProject(store, actor, 'ml', 'mnist', 'project');
      const a = await createArtifactVersion(store, actor, p, {
        collection: 'm',
        type: 'model',
        aliases: ['prod'],
        tags: ['x'],
      });
      const b = await createArtifactVersion(store, actor, p, { collection: 'm', type: 'model' });
      expect([a.version, b.version]).toEqual(['v0', 'v1']);
      await changeArtifact(store, actor, p, 'm', 'v1', { kind: 'alias', alias: 'prod' });
      await changeArtifact(store, actor, p, 'm', 'v1', { kind: 'alias', alias: 'prod' }); // already there: no event
      await changeArtifact(store, actor, p, 'm', 'v0', { kind: 'untag', tag: 'x' });
      const list = await listCollections(store, p, { limit: 10 });
      const m = list.items.find((c) => c.collection === 'm')!;
      expect(m.versions.map((v) => [v.version, v.aliases, v.tags])).toEqual([
        ['v1', ['latest', 'prod'], []],
        ['v0', [], []],
      ]);
      const types = (await events())
        .filter((e) => e.details.collection === 'm')
        .map((e) => `${e.type}:${e.details.version}`);
      expect(types).toEqual([
        'CREATE_ARTIFACT:v0',
        'ADD_ARTIFACT_ALIAS:v0',
        'ADD_ARTIFACT_TAG:v0',
        'CREATE_ARTIFACT:v1',
        'ADD_ARTIFACT_ALIAS:v1',
        'REMOVE_ARTIFACT_TAG:v0',
      ]);
    });

    it('links into a registry and unlinks, with events in registry scope', async () => {
      const p = await getProject(store, actor, 'ml', 'mnist', 'project');
      await createArtifactVersion(store, actor, p, { collection: 'clf', type: 'model' });
      const reg = await getProject(store, actor, 'ml', 'models', 'registry');
      const link = await linkArtifact(store, actor, reg, 'classifier', {
        source: 'ml/mnist/clf:v0',
        aliases: ['production'],
      });
      expect(link).toMatchObject({
        version: 'v0',
        aliases: ['latest', 'production'],
        source: 'ml/mnist/clf:v0',
      });
      await expect(
        linkArtifact(store, actor, reg, 'classifier', { source: 'ml/mnist/clf:v0' }),
      ).rejects.toMatchObject({
        status: 409,
      });
      await unlinkArtifact(store, actor, reg, 'classifier', 'v0');
      const regEvents = (await events()).filter((e) => e.details.project === 'models');
      expect(regEvents.map((e) => e.type)).toEqual([
        'LINK_ARTIFACT',
        'ADD_ARTIFACT_ALIAS',
        'UNLINK_ARTIFACT',
      ]);
      expect(regEvents[2].details).toMatchObject({
        collection: 'classifier',
        version: 'v0',
        source: 'ml/mnist/clf:v0',
      });
    });

    it('event positions strictly increase', async () => {
      const pos = (await events()).map((e) => e.position);
      expect(pos).toEqual([...pos].sort((x, y) => x - y));
      expect(new Set(pos).size).toBe(pos.length);
    });

    it('parallel version creates get v0..v(n-1) without gaps or duplicates', async () => {
      const p = await getProject(store, actor, 'ml', 'mnist', 'project');
      const n = 40;
      const results = await Promise.all(
        Array.from({ length: n }, () =>
          createArtifactVersion(store, actor, p, { collection: 'par', type: 'dataset' }),
        ),
      );
      const got = results.map((r) => Number(r.version.slice(1))).sort((a, b) => a - b);
      expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
      const creates = (await events()).filter(
        (e) => e.type === 'CREATE_ARTIFACT' && e.details.collection === 'par',
      );
      expect(creates).toHaveLength(n);
    });

    it('parallel appends to one run keep every key in the summary', async () => {
      const p = await getProject(store, actor, 'ml', 'mnist', 'project');
      await createRun(store, actor, p, { id: 'summ' });
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          appendMetrics(store, actor, p, 'summ', parseHistoryRows([{ _step: i, [`m${i}`]: i }])),
        ),
      );
      const run = await store.db
        .selectFrom('runs')
        .select('summary')
        .where('name', '=', 'summ')
        .executeTakeFirstOrThrow();
      const summary = JSON.parse(run.summary);
      for (let i = 0; i < 12; i++) expect(summary[`m${i}`]).toBe(i);
    });

    it('parallel alias moves leave exactly one holder and one event per move', async () => {
      const p = await getProject(store, actor, 'ml', 'mnist', 'project');
      for (let i = 0; i < 10; i++)
        await createArtifactVersion(store, actor, p, { collection: 'mv', type: 'model' });
      const targets = Array.from({ length: 30 }, (_, i) => `v${i % 10}`);
      await Promise.all(
        targets.map((v) => changeArtifact(store, actor, p, 'mv', v, { kind: 'alias', alias: 'champion' })),
      );
      const holders = await store.db
        .selectFrom('aliases')
        .innerJoin('collections', 'collections.id', 'aliases.collection_id')
        .select('aliases.version_id')
        .where('collections.name', '=', 'mv')
        .where('aliases.alias', '=', 'champion')
        .execute();
      expect(holders).toHaveLength(1);
      const moves = (await events()).filter(
        (e) => e.type === 'ADD_ARTIFACT_ALIAS' && e.details.collection === 'mv',
      );
      // Every event is a real move: consecutive events name different versions.
      for (let i = 1; i < moves.length; i++)
        expect(moves[i].details.version).not.toBe(moves[i - 1].details.version);
      const last = moves[moves.length - 1].details.versionId;
      expect(holders[0].version_id).toBe(last);
    });
  });
}
