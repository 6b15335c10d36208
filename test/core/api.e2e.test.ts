import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`REST API end to end on ${dialect}`, () => {
    let server: ServerProcess;
    let api: ReturnType<typeof client>;
    beforeAll(async () => {
      server = await startServerProcess({ dialect });
      api = client(server.url, server.apiKey);
    });
    afterAll(async () => server?.stop());

    it('logs a run, artifacts and a link; the event log reads back in order', async () => {
      expect((await api('POST', '/teams', { name: 'ml' })).status).toBe(201);
      expect((await api('POST', '/teams/ml/projects', { name: 'mnist' })).status).toBe(201);
      expect((await api('POST', '/teams/ml/registries', { name: 'models' })).status).toBe(201);
      const run = await api('POST', '/teams/ml/projects/mnist/runs', {
        id: 'run-1',
        displayName: 'baseline',
        config: { lr: 0.1 },
      });
      expect(run.body).toMatchObject({ id: 'run-1', displayName: 'baseline', state: 'RUNNING' });
      for (let b = 0; b < 10; b++) {
        const rows = Array.from({ length: 100 }, (_, i) => ({
          _step: b * 100 + i,
          loss: 1 / (b * 100 + i + 1),
          acc: i / 100,
        }));
        expect((await api('POST', '/teams/ml/projects/mnist/runs/run-1/history', { rows })).status).toBe(200);
      }
      expect(
        (await api('PATCH', '/teams/ml/projects/mnist/runs/run-1', { state: 'FAILED' })).body.state,
      ).toBe('FAILED');
      const hist = await api('GET', '/teams/ml/projects/mnist/runs/run-1/history?keys=loss');
      expect(hist.body.rows).toHaveLength(1000);
      expect(hist.body.rows[999]).toEqual({ _step: 999, loss: 1 / 1000 });

      const v0 = await api('POST', '/teams/ml/projects/mnist/artifacts', {
        collection: 'clf',
        type: 'model',
        metadata: { acc: 0.9 },
        aliases: ['candidate'],
        tags: ['resnet'],
      });
      expect(v0.body).toEqual({
        collection: 'clf',
        version: 'v0',
        aliases: ['latest', 'candidate'],
        tags: ['resnet'],
      });
      const v1 = await api('POST', '/teams/ml/projects/mnist/artifacts', {
        collection: 'clf',
        type: 'model',
      });
      expect(v1.body.version).toBe('v1');
      expect(
        (await api('POST', '/teams/ml/projects/mnist/artifacts/clf/v1/aliases', { alias: 'candidate' }))
          .status,
      ).toBe(200);
      expect(
        (await api('POST', '/teams/ml/projects/mnist/artifacts/clf/v1/tags', { tag: 'best' })).status,
      ).toBe(200);
      expect((await api('DELETE', '/teams/ml/projects/mnist/artifacts/clf/v0/tags/resnet')).status).toBe(200);
      const link = await api('POST', '/teams/ml/registries/models/collections/classifier/links', {
        source: 'ml/mnist/clf:v1',
        aliases: ['production'],
      });
      expect(link.status).toBe(201);

      const log = await api('GET', '/teams/ml/events?limit=1000');
      const summary = log.body.items.map((e: any) => {
        const d = e.details;
        return [
          e.type,
          d.runId ?? `${d.collection}:${d.version}`,
          d.newState ?? d.alias ?? d.tag ?? d.count ?? '',
        ];
      });
      expect(summary).toEqual([
        ['RUN_STATE', 'run-1', 'RUNNING'],
        ...Array.from({ length: 10 }, () => ['RUN_METRICS_APPENDED', 'run-1', 100]),
        ['RUN_STATE', 'run-1', 'FAILED'],
        ['CREATE_ARTIFACT', 'clf:v0', ''],
        ['ADD_ARTIFACT_ALIAS', 'clf:v0', 'candidate'],
        ['ADD_ARTIFACT_TAG', 'clf:v0', 'resnet'],
        ['CREATE_ARTIFACT', 'clf:v1', ''],
        ['ADD_ARTIFACT_ALIAS', 'clf:v1', 'candidate'],
        ['ADD_ARTIFACT_TAG', 'clf:v1', 'best'],
        ['REMOVE_ARTIFACT_TAG', 'clf:v0', 'resnet'],
        ['LINK_ARTIFACT', 'classifier:v0', ''],
        ['ADD_ARTIFACT_ALIAS', 'classifier:v0', 'production'],
      ]);
      const failed = log.body.items[11];
      expect(failed.details).toMatchObject({
        team: 'ml',
        project: 'mnist',
        runName: 'baseline',
        oldState: 'RUNNING',
        author: 'admin',
      });
      const positions = log.body.items.map((e: any) => e.position);
      expect(positions).toEqual([...positions].sort((a: number, b: number) => a - b));
      const after = await api('GET', `/teams/ml/events?after=${positions[11]}`);
      expect(after.body.items[0].type).toBe('CREATE_ARTIFACT');
      expect(log.body.items[20].details).toMatchObject({
        source: 'ml/mnist/clf:v1',
        project: 'models',
        projectKind: 'registry',
      });
    });

    it('authenticates with Bearer and W&B Basic; rejects bad keys; hides other teams', async () => {
      const basic = Buffer.from(`api:${server.apiKey}`).toString('base64');
      const ok = await fetch(`${server.url}/api/v1/viewer`, { headers: { authorization: `Basic ${basic}` } });
      expect(ok.status).toBe(200);
      expect((await client(server.url, 'wrong')('GET', '/viewer')).status).toBe(401);
      expect((await fetch(`${server.url}/api/v1/viewer`)).status).toBe(401);
      const bob = await api('POST', '/users', { username: 'bob' });
      expect(bob.status).toBe(201);
      expect(bob.body.apiKey).toMatch(/^[0-9a-f]{40}$/);
      const asBob = client(server.url, bob.body.apiKey);
      expect((await asBob('GET', '/viewer')).body).toEqual({
        username: 'bob',
        teams: [{ name: 'bob', role: 'admin' }],
      });
      expect((await asBob('GET', '/teams/ml/projects')).status).toBe(404);
      expect((await asBob('POST', '/users', { username: 'eve' })).status).toBe(403);
      expect((await api('PUT', '/teams/ml/members/bob', { role: 'member' })).status).toBe(200);
      expect((await asBob('GET', '/teams/ml/projects')).status).toBe(200);
      expect((await asBob('PUT', '/teams/ml/members/bob', { role: 'admin' })).status).toBe(403);
    });

    it('paginates lists with a cursor', async () => {
      for (let i = 0; i < 5; i++) await api('POST', '/teams/ml/projects/mnist/runs', { id: `page-${i}` });
      const seen: string[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const res: any = await api(
          'GET',
          `/teams/ml/projects/mnist/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen.push(...res.body.items.map((r: any) => r.id));
        cursor = res.body.nextCursor;
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining(['page-0', 'page-4', 'run-1']));
    });

    it('serves health, metrics and an OpenAPI document', async () => {
      expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ ok: true, database: dialect });
      const doc = await (await fetch(`${server.url}/api/openapi.json`)).json();
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toContain('/api/v1/teams/{team}/projects/{project}/runs/{run}/history');
      expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    });
  });
}
