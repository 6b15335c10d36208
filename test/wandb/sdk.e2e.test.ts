import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';
import { logWithSdk } from './sdk.js';

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`@wandb/sdk against Tripline on ${dialect}`, () => {
    let server: ServerProcess;
    let api: ReturnType<typeof client>;
    beforeAll(async () => {
      server = await startServerProcess({ dialect });
      api = client(server.url, server.apiKey);
      expect((await api('POST', '/teams', { name: 'ml' })).status).toBe(201);
    });
    afterAll(async () => server?.stop());

    it('wandb.init, log 200 steps, finish(0): the run, its history and summary are stored; FINISHED', async () => {
      // No entity: the SDK asks Viewer for the default entity (the user's personal team).
      const res = await logWithSdk(server, { runId: 'sdk-ok', project: 'mnist', name: 'baseline' });
      expect(res.code, res.out).toBe(0);
      expect(res.out).toContain('run admin/mnist/sdk-ok name=baseline');

      const run = await api('GET', '/teams/admin/projects/mnist/runs/sdk-ok');
      expect(run.status).toBe(200);
      expect(run.body).toMatchObject({
        id: 'sdk-ok',
        displayName: 'baseline',
        state: 'FINISHED',
        author: 'admin',
        config: { lr: 0.01, arch: 'mlp', layers: [64, 32] },
      });
      expect(run.body.summary).toMatchObject({
        loss: 1 / 200,
        acc: 199 / 200,
        'eval/score': 199 % 7,
        _step: 199,
      });

      const hist = await api('GET', '/teams/admin/projects/mnist/runs/sdk-ok/history');
      expect(hist.body.rows).toHaveLength(200);
      hist.body.rows.forEach((r: any, i: number) => {
        expect(r).toMatchObject({ _step: i, loss: 1 / (i + 1), acc: i / 200, 'eval/score': i % 7 });
        expect(typeof r._runtime).toBe('number');
        expect(typeof r._timestamp).toBe('number');
      });

      const events = await api('GET', '/teams/admin/events?limit=1000');
      const mine = events.body.items.filter((e: any) => e.details.runId === 'sdk-ok');
      expect(mine.map((e: any) => [e.type, e.details.newState ?? e.details.count])).toEqual([
        ['RUN_STATE', 'RUNNING'],
        ['RUN_METRICS_APPENDED', 200],
        ['RUN_STATE', 'FINISHED'],
      ]);
      expect(mine[2].details).toMatchObject({
        team: 'admin',
        project: 'mnist',
        runName: 'baseline',
        oldState: 'RUNNING',
      });
    });

    it('finish(1) in a team project created on first use: FAILED, with the RUN_STATE event', async () => {
      const res = await logWithSdk(server, {
        runId: 'sdk-fail',
        project: 'cifar',
        entity: 'ml',
        exitCode: 1,
      });
      expect(res.code, res.out).toBe(0);
      const projects = await api('GET', '/teams/ml/projects');
      expect(projects.body.items.map((p: any) => p.name)).toEqual(['cifar']);
      const run = await api('GET', '/teams/ml/projects/cifar/runs/sdk-fail');
      expect(run.body).toMatchObject({ state: 'FAILED', displayName: 'sdk-fail' });
      const hist = await api('GET', '/teams/ml/projects/cifar/runs/sdk-fail/history?keys=loss');
      expect(hist.body.rows).toHaveLength(200);
      expect(hist.body.rows[10]).toEqual({ _step: 10, loss: 2 });

      const events = await api('GET', '/teams/ml/events?limit=1000');
      const states = events.body.items
        .filter((e: any) => e.type === 'RUN_STATE' && e.details.runId === 'sdk-fail')
        .map((e: any) => e.details.newState);
      expect(states).toEqual(['RUNNING', 'FAILED']);
    });

    it('fails loudly, storing nothing, for a bad API key or a team the user is not in', async () => {
      const badKey = await logWithSdk(server, {
        runId: 'sdk-nokey',
        project: 'mnist',
        key: 'not-a-key',
        steps: 3,
      });
      expect(badKey.code).not.toBe(0);
      expect(badKey.out).toContain('401');
      const noTeam = await logWithSdk(server, {
        runId: 'sdk-noteam',
        project: 'mnist',
        entity: 'other',
        steps: 3,
      });
      expect(noTeam.code).not.toBe(0);
      expect(noTeam.out).toContain('team \\"other\\" not found');
      expect((await api('GET', '/teams/admin/projects/mnist/runs/sdk-nokey')).status).toBe(404);
    });
  });
}
