import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getAutomation, updateAutomation } from '../../src/automations/commands.js';
import type { Engine } from '../../src/engine/loop.js';
import { changeArtifact, createArtifactVersion, linkArtifact } from '../../src/tracking/artifacts.js';
import type { Actor } from '../../src/tracking/context.js';
import { transitionRun } from '../../src/tracking/runs.js';
import { DIALECTS, openTestStore, type TestStore } from '../helpers/store.js';
import {
  automation,
  countByAutomation,
  drainOnlyEngine,
  executions,
  logRows,
  newRun,
  team,
  user,
} from './fixtures.js';

const failed = { run_state_filter: { states: ['FAILED'] } };
const projectScope = (project: string, t = 'ml') => ({ type: 'PROJECT', team: t, project });

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`engine behaviour on ${dialect}`, () => {
    let store: TestStore;
    let engine: Engine;
    let alice: Actor; // admin of ml
    let bob: Actor; // member of ml
    let ml: Awaited<ReturnType<typeof team>>;

    beforeEach(async () => {
      store = await openTestStore(dialect);
      alice = await user(store, 'alice');
      bob = await user(store, 'bob');
      ml = await team(store, alice, 'ml', {
        projects: ['mnist', 'cifar'],
        registries: ['models'],
        members: [bob],
      });
      engine = drainOnlyEngine(store);
    });
    afterEach(async () => {
      await engine?.stop();
      await store?.destroy();
    });

    describe('RUN_STATE', () => {
      it('CRASHED counts as FAILED; KILLED never fires', async () => {
        await automation(store, alice, {
          name: 'failed',
          scope: projectScope('mnist'),
          event: { type: 'RUN_STATE', filter: failed },
        });
        await automation(store, alice, {
          name: 'any-state',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_STATE',
            filter: { run_state_filter: { states: ['RUNNING', 'FINISHED', 'FAILED'] } },
          },
        });
        const p = ml.projects.mnist;
        for (const id of ['r-crash', 'r-fail', 'r-kill', 'r-done']) await newRun(store, alice, p, id);
        await transitionRun(store, alice, p, 'r-crash', 'CRASHED');
        await transitionRun(store, alice, p, 'r-fail', 'FAILED');
        await transitionRun(store, alice, p, 'r-kill', 'KILLED');
        await transitionRun(store, alice, p, 'r-done', 'FINISHED');
        await engine.drain();
        const ex = await executions(store);
        const fired = (name: string) =>
          ex
            .filter((e) => e.automation === name)
            .map((e) => `${e.event.details.runId}:${e.event.details.newState}`)
            .sort();
        expect(fired('failed')).toEqual(['r-crash:CRASHED', 'r-fail:FAILED']);
        // 4 RUNNING (creation), 2 failures, 1 finish; the kill fires nothing.
        expect(fired('any-state')).toEqual([
          'r-crash:CRASHED',
          'r-crash:RUNNING',
          'r-done:FINISHED',
          'r-done:RUNNING',
          'r-fail:FAILED',
          'r-fail:RUNNING',
          'r-kill:RUNNING',
        ]);
        // A CRASHED selection is stored as FAILED.
        const crashed = await automation(store, alice, {
          name: 'crashed',
          scope: projectScope('mnist'),
          event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['CRASHED'] } } },
        });
        expect(crashed.event.filter.run_state_filter).toEqual({ states: ['FAILED'] });
      });

      it('run filter: display_name regex and contains, username', async () => {
        const p = ml.projects.mnist;
        await automation(store, alice, {
          name: 'regex',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_STATE',
            filter: { run_filter: { display_name: { $regex: '^resnet-\\d+$' } }, ...failed },
          },
        });
        await automation(store, alice, {
          name: 'contains',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_STATE',
            filter: {
              run_filter: JSON.stringify({ $or: [{ $and: [{ display_name: { $contains: 'sweep' } }] }] }),
              ...failed,
            },
          },
        });
        await automation(store, alice, {
          name: 'bobs',
          scope: { type: 'TEAM', team: 'ml' },
          event: { type: 'RUN_STATE', filter: { run_filter: { username: { $eq: 'bob' } }, ...failed } },
        });
        const runs: Array<[Actor, string, string]> = [
          [alice, 'a1', 'resnet-50'],
          [alice, 'a2', 'resnet-50-sweep'],
          [bob, 'b1', 'my-sweep-3'],
          [bob, 'b2', 'ResNet-18'],
        ];
        for (const [who, id, name] of runs) {
          await newRun(store, who, p, id, name);
          await transitionRun(store, who, p, id, 'FAILED');
        }
        await engine.drain();
        const ex = await executions(store);
        const ids = (name: string) =>
          ex
            .filter((e) => e.automation === name)
            .map((e) => e.event.details.runId)
            .sort();
        expect(ids('regex')).toEqual(['a1']);
        expect(ids('contains')).toEqual(['a2', 'b1']);
        expect(ids('bobs')).toEqual(['b1', 'b2']);
        expect(ex.find((e) => e.automation === 'bobs')?.event.details).toMatchObject({
          runAuthor: 'bob',
          newState: 'FAILED',
          project: 'mnist',
        });
      });
    });

    it('artifact events: alias and tag regexes', async () => {
      const p = ml.projects.mnist;
      await automation(store, alice, {
        name: 'prod-alias',
        scope: projectScope('mnist'),
        event: { type: 'ADD_ARTIFACT_ALIAS', filter: { $or: [{ $and: [{ alias: { $regex: '^prod' } }] }] } },
      });
      await automation(store, alice, {
        name: 'gold-tag',
        scope: projectScope('mnist'),
        event: { type: 'ADD_ARTIFACT_TAG', filter: '{"tag":{"$regex":"(?i)gold"}}' },
      });
      await automation(store, alice, {
        name: 'untag',
        scope: projectScope('mnist'),
        event: { type: 'REMOVE_ARTIFACT_TAG', filter: { tag: { $in: ['gold', 'silver'] } } },
      });
      await automation(store, alice, {
        name: 'created',
        scope: { type: 'ARTIFACT_COLLECTION', team: 'ml', project: 'mnist', collection: 'clf' },
        event: { type: 'CREATE_ARTIFACT' },
      });
      await createArtifactVersion(store, alice, p, {
        collection: 'clf',
        type: 'model',
        aliases: ['production', 'staging'],
        tags: ['GOLD', 'bronze'],
      });
      await createArtifactVersion(store, alice, p, { collection: 'other', type: 'model' });
      await changeArtifact(store, alice, p, 'clf', 'v0', { kind: 'alias', alias: 'prod-eu' });
      await changeArtifact(store, alice, p, 'clf', 'v0', { kind: 'alias', alias: 'preprod' });
      await changeArtifact(store, alice, p, 'clf', 'v0', { kind: 'tag', tag: 'gold' });
      await changeArtifact(store, alice, p, 'clf', 'v0', { kind: 'untag', tag: 'gold' });
      await changeArtifact(store, alice, p, 'clf', 'v0', { kind: 'untag', tag: 'bronze' });
      await engine.drain();
      const ex = await executions(store);
      const what = (name: string, key: string) =>
        ex.filter((e) => e.automation === name).map((e) => e.event.details[key]);
      expect(what('prod-alias', 'alias')).toEqual(['production', 'prod-eu']);
      expect(what('gold-tag', 'tag')).toEqual(['GOLD', 'gold']);
      expect(what('untag', 'tag')).toEqual(['gold']);
      expect(what('created', 'collection')).toEqual(['clf']);
      expect(ex.find((e) => e.automation === 'created')?.event.details).toMatchObject({
        version: 'v0',
        collection: 'clf',
        author: 'alice',
      });
    });

    describe('scopes', () => {
      it('one event fires matching team, project and collection automations once each', async () => {
        const p = ml.projects.mnist;
        const ev = { type: 'ADD_ARTIFACT_ALIAS' };
        await automation(store, alice, { name: 'team', scope: { type: 'TEAM', team: 'ml' }, event: ev });
        await automation(store, alice, { name: 'project', scope: projectScope('mnist'), event: ev });
        await automation(store, alice, {
          name: 'collection',
          scope: { type: 'ARTIFACT_COLLECTION', team: 'ml', project: 'mnist', collection: 'clf' },
          event: ev,
        });
        // Near misses: another project, another collection, the registry, another event type.
        await automation(store, alice, { name: 'x-project', scope: projectScope('cifar'), event: ev });
        await automation(store, alice, {
          name: 'x-collection',
          scope: { type: 'ARTIFACT_COLLECTION', team: 'ml', project: 'mnist', collection: 'clf2' },
          event: ev,
        });
        await automation(store, alice, {
          name: 'x-registry',
          scope: { type: 'REGISTRY', team: 'ml', registry: 'models' },
          event: ev,
        });
        await automation(store, alice, {
          name: 'x-type',
          scope: projectScope('mnist'),
          event: { type: 'ADD_ARTIFACT_TAG' },
        });
        await createArtifactVersion(store, alice, p, { collection: 'clf', type: 'model' });
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({});
        await changeArtifact(store, alice, p, 'clf', 'v0', { kind: 'alias', alias: 'best' });
        await engine.drain();
        const ex = await executions(store);
        expect(ex.map((e) => e.automation).sort()).toEqual(['collection', 'project', 'team']);
        expect(new Set(ex.map((e) => e.position)).size).toBe(1);
      });

      it('registry events fire team, registry and registry-collection automations once each', async () => {
        const p = ml.projects.mnist;
        const reg = ml.registries.models;
        const link = { type: 'LINK_ARTIFACT' };
        const alias = { type: 'ADD_ARTIFACT_ALIAS' };
        for (const [suffix, event] of [
          ['link', link],
          ['alias', alias],
        ] as const) {
          await automation(store, alice, {
            name: `team-${suffix}`,
            scope: { type: 'TEAM', team: 'ml' },
            event,
          });
          await automation(store, alice, {
            name: `registry-${suffix}`,
            scope: { type: 'REGISTRY', team: 'ml', registry: 'models' },
            event,
          });
          await automation(store, alice, {
            name: `collection-${suffix}`,
            scope: { type: 'ARTIFACT_COLLECTION', team: 'ml', registry: 'models', collection: 'classifier' },
            event,
          });
        }
        // A project-scoped alias automation does not see registry aliases.
        await automation(store, alice, { name: 'project-alias', scope: projectScope('mnist'), event: alias });
        await createArtifactVersion(store, alice, p, { collection: 'clf', type: 'model' });
        await linkArtifact(store, alice, reg, 'classifier', { source: 'ml/mnist/clf:v0', aliases: ['prod'] });
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({
          'team-link': 1,
          'registry-link': 1,
          'collection-link': 1,
          'team-alias': 1,
          'registry-alias': 1,
          'collection-alias': 1,
        });
      });

      it('nothing fires across teams', async () => {
        const carol = await user(store, 'carol');
        const other = await team(store, carol, 'other', { projects: ['mnist'] });
        for (const [who, t] of [
          [alice, 'ml'],
          [carol, 'other'],
        ] as const) {
          await automation(store, who, {
            name: `${t}-team`,
            scope: { type: 'TEAM', team: t },
            event: { type: 'RUN_STATE', filter: failed },
          });
          await automation(store, who, {
            name: `${t}-project`,
            scope: projectScope('mnist', t),
            event: { type: 'RUN_STATE', filter: failed },
          });
          await automation(store, who, {
            name: `${t}-alias`,
            scope: { type: 'TEAM', team: t },
            event: { type: 'ADD_ARTIFACT_ALIAS' },
          });
        }
        await newRun(store, alice, ml.projects.mnist, 'r1');
        await transitionRun(store, alice, ml.projects.mnist, 'r1', 'FAILED');
        await createArtifactVersion(store, alice, ml.projects.mnist, {
          collection: 'clf',
          type: 'model',
          aliases: ['prod'],
        });
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({ 'ml-team': 1, 'ml-project': 1, 'ml-alias': 1 });
        await newRun(store, carol, other.projects.mnist, 'r1');
        await transitionRun(store, carol, other.projects.mnist, 'r1', 'FAILED');
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({
          'ml-team': 1,
          'ml-project': 1,
          'ml-alias': 1,
          'other-team': 1,
          'other-project': 1,
        });
      });
    });

    it('disabled automations never fire; re-enabled ones skip what they slept through', async () => {
      const p = ml.projects.mnist;
      const off = await automation(store, alice, {
        name: 'off',
        enabled: false,
        scope: projectScope('mnist'),
        event: { type: 'RUN_STATE', filter: failed },
      });
      const later = await automation(store, alice, {
        name: 'disabled-before-drain',
        scope: projectScope('mnist'),
        event: { type: 'RUN_STATE', filter: failed },
      });
      await newRun(store, alice, p, 'r1');
      await transitionRun(store, alice, p, 'r1', 'FAILED');
      // Disabled after the event but before the engine saw it: it must not fire either.
      await updateAutomation(store, alice, later.id, { enabled: false });
      await engine.drain();
      expect(await countByAutomation(store)).toEqual({});
      await updateAutomation(store, alice, off.id, { enabled: true });
      await engine.drain();
      expect(await countByAutomation(store)).toEqual({});
      await newRun(store, alice, p, 'r2');
      await transitionRun(store, alice, p, 'r2', 'FAILED');
      await engine.drain();
      expect(await countByAutomation(store)).toEqual({ off: 1 });
      expect((await getAutomation(store, alice, off.id)).lastExecutionAt).not.toBeNull();
    });

    it('an automation created after an event does not fire for it', async () => {
      const p = ml.projects.mnist;
      await newRun(store, alice, p, 'r1');
      await transitionRun(store, alice, p, 'r1', 'FAILED');
      await newRun(store, alice, p, 'r2');
      await logRows(store, alice, p, 'r2', [{ _step: 0, loss: 9 }]);
      await automation(store, alice, {
        name: 'late-state',
        scope: projectScope('mnist'),
        event: { type: 'RUN_STATE', filter: failed },
      });
      await automation(store, alice, {
        name: 'late-metric',
        scope: projectScope('mnist'),
        event: {
          type: 'RUN_METRIC',
          filter: { threshold_filter: { name: 'loss', cmp_op: '$gt', threshold: 1 } },
        },
      });
      await engine.drain();
      expect(await countByAutomation(store)).toEqual({});
      // The next event fires (the window includes history logged before the automation existed).
      await logRows(store, alice, p, 'r2', [{ _step: 1, loss: 8 }]);
      await engine.drain();
      expect(await countByAutomation(store)).toEqual({ 'late-metric': 1 });
    });

    describe('run metrics', () => {
      const threshold = (name: string, extra: Record<string, unknown> = {}) => ({
        type: 'RUN_METRIC',
        filter: {
          threshold_filter: {
            name,
            agg_op: 'AVERAGE',
            window_size: 3,
            cmp_op: '$gt',
            threshold: 0.5,
            ...extra,
          },
        },
      });

      it('a threshold fires once per run (24 h guard), not once per step', async () => {
        const p = ml.projects.mnist;
        const a = await automation(store, alice, {
          name: 'high-loss',
          scope: projectScope('mnist'),
          event: threshold('loss'),
        });
        for (const run of ['r1', 'r2']) {
          await newRun(store, alice, p, run);
          // 100 steps, all above the threshold, in 10 batches.
          for (let b = 0; b < 10; b++) {
            await logRows(
              store,
              alice,
              p,
              run,
              Array.from({ length: 10 }, (_, i) => ({ _step: b * 10 + i, loss: 0.9 })),
            );
            if (b % 3 === 0) await engine.drain();
          }
        }
        await engine.drain();
        const ex = await executions(store);
        expect(ex.map((e) => e.event.details.runId)).toEqual(['r1', 'r2']);
        expect(ex[0].event.details).toMatchObject({ metricName: 'loss', step: 0, metricValue: 0.9 });
        // Skipped by the per-run guard is by design, not suppression.
        expect((await getAutomation(store, alice, a.id)).suppressedCount).toBe(0);
      });

      it('batching independence: 1 batch or 100 batches give the same executions', async () => {
        const n = 1000;
        const series = Array.from({ length: n }, (_, i) => ({
          _step: i,
          loss: 1 + Math.sin(i / 7) * 0.3 + (i > 600 ? (i - 600) / 100 : 0),
          acc: i < 400 ? 0.5 + i / 1000 : 0.9 - (i - 400) / 200,
          // Sparse: logged every 50 steps; the window has to reach back across batches.
          lr: i % 50 === 0 ? (i < 500 ? 0.05 : 0.1) : undefined,
        }));
        const defs = (project: string) => [
          {
            name: `${project}-thr-avg`,
            scope: projectScope(project),
            event: threshold('loss', { window_size: 20, threshold: 1.3 }),
          },
          {
            name: `${project}-thr-max`,
            scope: projectScope(project),
            event: threshold('loss', { agg_op: 'MAX', window_size: 50, threshold: 3.5 }),
          },
          {
            name: `${project}-thr-sparse`,
            scope: projectScope(project),
            event: threshold('lr', { agg_op: 'MIN', window_size: 3, cmp_op: '$gte', threshold: 0.1 }),
          },
          {
            name: `${project}-chg-abs`,
            scope: projectScope(project),
            event: {
              type: 'RUN_METRIC_CHANGE',
              filter: {
                change_filter: {
                  name: 'loss',
                  agg_op: 'AVERAGE',
                  current_window_size: 30,
                  prior_window_size: 70,
                  change_type: 'ABSOLUTE',
                  change_dir: 'INCREASE',
                  change_amount: 0.45,
                },
              },
            },
          },
          {
            name: `${project}-chg-rel`,
            scope: projectScope(project),
            event: {
              type: 'RUN_METRIC_CHANGE',
              filter: {
                change_filter: {
                  name: 'acc',
                  agg_op: 'MIN',
                  current_window_size: 25,
                  prior_window_size: 25,
                  change_type: 'RELATIVE',
                  change_dir: 'DECREASE',
                  change_amount: 0.05,
                },
              },
            },
          },
        ];
        for (const d of [...defs('mnist'), ...defs('cifar')]) await automation(store, alice, d);
        await newRun(store, alice, ml.projects.mnist, 'run');
        await newRun(store, alice, ml.projects.cifar, 'run');
        await logRows(store, alice, ml.projects.mnist, 'run', series);
        for (let b = 0; b < 100; b++) {
          await logRows(store, alice, ml.projects.cifar, 'run', series.slice(b * 10, b * 10 + 10));
          if (b % 17 === 0) await engine.drain(); // interleave engine work and logging
        }
        await engine.drain();
        const ex = await executions(store);
        const view = (project: string) =>
          ex
            .filter((e) => e.automation.startsWith(`${project}-`))
            .map((e) => ({
              automation: e.automation.slice(project.length + 1),
              step: e.event.details.step,
              value: e.event.details.metricValue,
              prior: e.event.details.priorValue,
            }))
            .sort((x, y) => x.automation.localeCompare(y.automation));
        expect(view('mnist')).toEqual(view('cifar'));
        // Every condition above is met somewhere in the series: the comparison is not vacuous.
        expect(view('mnist').map((v) => v.automation)).toEqual([
          'chg-abs',
          'chg-rel',
          'thr-avg',
          'thr-max',
          'thr-sparse',
        ]);
      });

      it('change end to end: fires at the step the windows first differ enough', async () => {
        const p = ml.projects.mnist;
        await automation(store, alice, {
          name: 'jump',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_METRIC_CHANGE',
            filter: {
              change_filter: {
                name: 'loss',
                agg_op: 'AVERAGE',
                current_window_size: 5,
                prior_window_size: 5,
                change_type: 'ABSOLUTE',
                change_dir: 'INCREASE',
                change_amount: 0.5,
              },
            },
          },
        });
        await automation(store, alice, {
          name: 'drop-rel',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_METRIC_CHANGE',
            filter: {
              change_filter: {
                name: 'loss',
                agg_op: 'AVERAGE',
                current_window_size: 5,
                change_type: 'RELATIVE',
                change_dir: 'DECREASE',
                change_amount: 0.1,
              },
            },
          },
        });
        await newRun(store, alice, p, 'r1');
        const rows = Array.from({ length: 20 }, (_, i) => ({ _step: i, loss: i < 10 ? 1 : 2 }));
        await logRows(store, alice, p, 'r1', rows.slice(0, 11));
        await logRows(store, alice, p, 'r1', rows.slice(11));
        await engine.drain();
        const ex = await executions(store);
        expect(ex).toHaveLength(1);
        const d = ex[0].event.details;
        expect(ex[0].automation).toBe('jump');
        // step 12: current = steps 8..12 = 1,1,2,2,2 (avg 1.6), prior = steps 3..7 (avg 1).
        expect(d.step).toBe(12);
        expect(d.metricValue).toBeCloseTo(1.6);
        expect(d.priorValue).toBe(1);
        expect(d.delta).toBeCloseTo(0.6);
        expect(ex[0].event.type).toBe('RUN_METRIC_CHANGE');
      });

      it('z-score end to end: an outlier against the last N runs of the project', async () => {
        const p = ml.projects.mnist;
        const baseline = [0.8, 0.82, 0.79, 0.81, 0.8, 0.83, 0.78, 0.8, 0.81, 0.79];
        for (const [i, acc] of baseline.entries()) {
          await newRun(store, alice, p, `base-${i}`);
          await logRows(store, alice, p, `base-${i}`, [
            { _step: 0, acc: 0.5 },
            { _step: 1, acc },
          ]);
          await transitionRun(store, alice, p, `base-${i}`, 'FINISHED');
        }
        await automation(store, alice, {
          name: 'acc-outlier-up',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_METRIC_ZSCORE',
            filter: { zscore_filter: { name: 'acc', window_size: 10, threshold: 3, change_dir: 'INCREASE' } },
          },
        });
        await automation(store, alice, {
          name: 'acc-outlier-any',
          scope: { type: 'TEAM', team: 'ml' },
          event: { type: 'RUN_METRIC_ZSCORE', filter: { zscore_filter: { name: 'acc', window_size: 10 } } },
        });
        await newRun(store, alice, p, 'normal');
        await logRows(store, alice, p, 'normal', [{ _step: 0, acc: 0.805 }]);
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({});
        await newRun(store, alice, p, 'great');
        await logRows(store, alice, p, 'great', [
          { _step: 0, acc: 0.81 },
          { _step: 1, acc: 0.99 },
        ]);
        await newRun(store, alice, p, 'bad');
        await logRows(store, alice, p, 'bad', [{ _step: 0, acc: 0.6 }]);
        await engine.drain();
        const ex = await executions(store);
        const got = ex.map((e) => `${e.automation}:${e.event.details.runId}`).sort();
        expect(got).toEqual(['acc-outlier-any:bad', 'acc-outlier-any:great', 'acc-outlier-up:great']);
        const up = ex.find((e) => e.automation === 'acc-outlier-up')!.event.details;
        expect(up).toMatchObject({ metricName: 'acc', metricValue: 0.99, step: 1 });
        expect(up.zScore).toBeGreaterThan(3);
      });

      it('system metrics (system/cpu) fire run-metric automations', async () => {
        const p = ml.projects.mnist;
        await automation(store, alice, {
          name: 'hot-cpu',
          scope: projectScope('mnist'),
          event: threshold('system/cpu', {
            agg_op: 'AVERAGE',
            window_size: 3,
            cmp_op: '$gte',
            threshold: 90,
          }),
        });
        await automation(store, alice, {
          name: 'history-cpu',
          scope: projectScope('mnist'),
          event: threshold('cpu', { cmp_op: '$gte', threshold: 90 }),
        });
        await newRun(store, alice, p, 'r1');
        await logRows(store, alice, p, 'r1', [{ 'system/cpu': 50 }, { 'system/cpu': 95 }], 'system');
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({});
        await logRows(store, alice, p, 'r1', [{ 'system/cpu': 99 }, { 'system/cpu': 99 }], 'system');
        await engine.drain();
        const ex = await executions(store);
        expect(ex.map((e) => e.automation)).toEqual(['hot-cpu']);
        // (95 + 99 + 99) / 3 at the 4th sample.
        expect(ex[0].event.details).toMatchObject({ metricName: 'system/cpu', step: 3 });
        expect(ex[0].event.details.metricValue).toBeCloseTo(97.667, 2);
      });

      it('a NaN loss fires a $gt threshold', async () => {
        const p = ml.projects.mnist;
        await automation(store, alice, {
          name: 'loss-gt-5',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_METRIC',
            filter: { threshold_filter: { name: 'loss', cmp_op: '$gt', threshold: 5 } },
          },
        });
        await automation(store, alice, {
          name: 'loss-lt-0',
          scope: projectScope('mnist'),
          event: {
            type: 'RUN_METRIC',
            filter: { threshold_filter: { name: 'loss', cmp_op: '$lt', threshold: 0 } },
          },
        });
        await newRun(store, alice, p, 'r1');
        await logRows(store, alice, p, 'r1', [
          { _step: 0, loss: 2 },
          { _step: 1, loss: 1.5 },
        ]);
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({});
        await logRows(store, alice, p, 'r1', [{ _step: 2, loss: Number.NaN }]);
        await engine.drain();
        const ex = await executions(store);
        expect(ex.map((e) => e.automation)).toEqual(['loss-gt-5']);
        expect(ex[0].event.details).toMatchObject({ metricName: 'loss', metricValue: 'NaN', step: 2 });
      });

      it('a KILLED run fires no metric automation', async () => {
        const p = ml.projects.mnist;
        await automation(store, alice, {
          name: 'high-loss',
          scope: projectScope('mnist'),
          event: threshold('loss'),
        });
        await newRun(store, alice, p, 'r1');
        await logRows(store, alice, p, 'r1', [{ _step: 0, loss: 9 }]);
        await transitionRun(store, alice, p, 'r1', 'KILLED');
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({});
      });
    });

    describe('noise control', () => {
      it('rate limit suppresses and counts', async () => {
        const p = ml.projects.mnist;
        const a = await automation(store, alice, {
          name: 'limited',
          rateLimitPerHour: 2,
          scope: projectScope('mnist'),
          event: { type: 'RUN_STATE', filter: failed },
        });
        const unlimited = await automation(store, alice, {
          name: 'unlimited',
          rateLimitPerHour: 0,
          scope: projectScope('mnist'),
          event: { type: 'RUN_STATE', filter: failed },
        });
        for (let i = 0; i < 5; i++) {
          await newRun(store, alice, p, `r${i}`);
          await transitionRun(store, alice, p, `r${i}`, 'FAILED');
          if (i === 2) await engine.drain();
        }
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({ limited: 2, unlimited: 5 });
        const view = await getAutomation(store, alice, a.id);
        expect(view.suppressedCount).toBe(3);
        expect(view.lastSuppressedAt).not.toBeNull();
        expect((await getAutomation(store, alice, unlimited.id)).suppressedCount).toBe(0);
      });

      it('cooldown suppresses and counts', async () => {
        const p = ml.projects.mnist;
        const a = await automation(store, alice, {
          name: 'cool',
          cooldownSeconds: 3600,
          scope: { type: 'TEAM', team: 'ml' },
          event: { type: 'ADD_ARTIFACT_TAG' },
        });
        await createArtifactVersion(store, alice, p, { collection: 'c', type: 'model', tags: ['a', 'b'] });
        await engine.drain();
        await changeArtifact(store, alice, p, 'c', 'v0', { kind: 'tag', tag: 'c' });
        await engine.drain();
        expect(await countByAutomation(store)).toEqual({ cool: 1 });
        const view = await getAutomation(store, alice, a.id);
        expect(view.suppressedCount).toBe(2);
        expect(view.lastExecutionAt).not.toBeNull();
      });
    });
  });
}
