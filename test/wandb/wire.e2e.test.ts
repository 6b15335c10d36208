import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';

const UPSERT = `mutation UpsertBucket($name: String, $project: String, $entity: String, $config: JSONString,
  $tags: [String!], $state: String, $displayName: String) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, config: $config, tags: $tags,
    state: $state, displayName: $displayName}) {
    bucket { id name displayName config project { id name entity { id name } } }
    inserted
  }
}`;

const UPLOAD_URLS = `query RunUploadUrls($name: String!, $files: [String]!, $entity: String, $run: String!, $description: String) {
  model(name: $name, entityName: $entity) {
    bucket(name: $run, desc: $description) {
      id
      files(names: $files) { uploadHeaders edges { node { name url(upload: true) updatedAt } } }
    }
  }
}`;

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`W&B wire protocol over HTTP on ${dialect}`, () => {
    let server: ServerProcess;
    let api: ReturnType<typeof client>;
    let basic: string;
    beforeAll(async () => {
      server = await startServerProcess({ dialect });
      api = client(server.url, server.apiKey);
      basic = `Basic ${Buffer.from(`api:${server.apiKey}`).toString('base64')}`;
    });
    afterAll(async () => server?.stop());

    const post = async (path: string, body: unknown, auth = basic) => {
      const res = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let json: any = text;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: res.status, body: json };
    };
    const gql = (query: string, variables: Record<string, unknown> = {}) =>
      post('/graphql', { query, variables });
    const stream = (run: string, body: unknown) => post(`/files/admin/wire/${run}/file_stream`, body);
    const snapshot = async (run: string) => {
      const r = await api('GET', `/teams/admin/projects/wire/runs/${run}`);
      const h = await api('GET', `/teams/admin/projects/wire/runs/${run}/history`);
      const e = await api('GET', '/teams/admin/events?limit=1000');
      return { run: r.body, history: h.body.rows, events: e.body.items.length };
    };

    it('answers Viewer and UpsertBucket as the SDK reads them; unknown operations get GraphQL errors', async () => {
      const viewer = await gql(
        'query Viewer { viewer { id entity flags teams { edges { node { name } } } } }',
      );
      expect(viewer.status).toBe(200);
      expect(viewer.body.data.viewer).toMatchObject({
        entity: 'admin',
        flags: '{}',
        teams: { edges: [{ node: { name: 'admin' } }] },
      });

      const created = await gql(UPSERT, {
        name: 'w1',
        project: 'wire',
        entity: 'admin',
        config: '{"lr":0.1}',
        tags: ['x'],
      });
      expect(created.status).toBe(200);
      expect(created.body.data.upsertBucket).toMatchObject({
        inserted: true,
        bucket: {
          name: 'w1',
          displayName: 'w1',
          config: '{"lr":0.1}',
          project: { name: 'wire', entity: { name: 'admin' } },
        },
      });
      const updated = await gql(UPSERT, {
        name: 'w1',
        project: 'wire',
        entity: 'admin',
        displayName: 'renamed',
      });
      expect(updated.body.data.upsertBucket).toMatchObject({
        inserted: false,
        bucket: { displayName: 'renamed' },
      });

      for (const query of [
        'query Nope { nope }',
        'mutation DeleteRun { deleteRun(input: {id: "w1"}) { clientMutationId } }',
        'query Viewer { viewer { id password } }',
        'query {',
      ]) {
        const res = await gql(query);
        expect(res.status, query).toBe(400);
        expect(res.body.errors.length, query).toBeGreaterThan(0);
        expect(res.body.data, query).toBeUndefined();
      }
      expect((await post('/graphql', 'not json')).status).toBe(400);
      expect((await post('/graphql', { variables: {} })).status).toBe(400);
      // A resolver's user-facing error keeps W&B's status: 404 for a team the user is not in.
      const foreign = await gql(UPSERT, { name: 'w2', project: 'wire', entity: 'someone-else' });
      expect(foreign.status).toBe(404);
      expect(foreign.body).toMatchObject({
        data: { upsertBucket: null },
        errors: [{ path: ['upsertBucket'] }],
      });
      const badConfig = await gql(UPSERT, { name: 'w2', project: 'wire', config: 'not json' });
      expect(badConfig.status).toBe(400);
      expect((await post('/graphql', { query: 'query Viewer { viewer { id } }' }, 'Basic xyz')).status).toBe(
        401,
      );
      // Introspection works (Python's client probes the schema this way).
      const intro = await gql('{ __type(name: "UpsertBucketInput") { inputFields { name } } }');
      expect(intro.body.data.__type.inputFields.map((f: any) => f.name)).toContain('summaryMetrics');
    });

    it('hands out upload URLs that accept the upload, and only with a valid signature', async () => {
      const res = await gql(UPLOAD_URLS, {
        name: 'wire',
        entity: 'admin',
        run: 'w1',
        files: ['config.yaml', 'media/a b.png'],
      });
      expect(res.status).toBe(200);
      const files = res.body.data.model.bucket.files;
      expect(files.uploadHeaders).toEqual([]);
      expect(files.edges.map((e: any) => e.node.name)).toEqual(['config.yaml', 'media/a b.png']);
      for (const { node } of files.edges) {
        const put = await fetch(node.url, { method: 'PUT', body: 'lr: 0.1\n' });
        expect(put.status).toBe(200);
      }
      const forged = files.edges[0].node.url.replace('config.yaml', 'other.yaml');
      expect((await fetch(forged, { method: 'PUT', body: 'x' })).status).toBe(403);
      const missing = await gql(UPLOAD_URLS, { name: 'nope', entity: 'admin', run: 'w1', files: ['a'] });
      expect(missing.body.data.model).toBeNull();
    });

    it('stores a resent file_stream chunk once', async () => {
      await gql(UPSERT, { name: 'w3', project: 'wire', entity: 'admin' });
      const chunk = {
        files: {
          'wandb-history.jsonl': {
            offset: 0,
            content: [
              '{"_step": 0, "loss": 1.0, "_runtime": 0.1}',
              '{"_step": 1, "loss": NaN, "_runtime": 0.2}',
              '{"_step": 2, "loss": Infinity, "note": "NaN stays a string"}',
              '{"_step": 3, "loss": -Infinity}',
            ],
          },
          'wandb-summary.json': { offset: 0, content: ['{"loss": -Infinity, "_step": 3}'] },
          'wandb-events.jsonl': {
            offset: 0,
            content: ['{"system.cpu": 12.5, "system.memory": 40, "_wandb": true}'],
          },
        },
      };
      const first = await stream('w3', chunk);
      expect(first).toEqual({ status: 200, body: { exitcode: null, limits: {} } });
      const before = await snapshot('w3');
      expect(before.history.map((r: any) => r._step)).toEqual([0, 1, 2, 3]);
      expect(before.history[2].note).toBe('NaN stays a string');
      const resent = await stream('w3', chunk);
      expect(resent.status).toBe(200);
      const after = await snapshot('w3');
      expect(after).toEqual({ ...before, run: { ...before.run, updatedAt: after.run.updatedAt } });
      const appended = (await api('GET', '/teams/admin/events?limit=1000')).body.items.filter(
        (e: any) => e.type === 'RUN_METRICS_APPENDED' && e.details.runId === 'w3',
      );
      expect(appended.map((e: any) => [e.details.table, e.details.count])).toEqual([
        ['history', 4],
        ['system', 1],
      ]);
      const sys = await api('GET', '/teams/admin/projects/wire/runs/w3/system');
      expect(sys.body.rows).toEqual([{ _step: 0, 'system/cpu': 12.5, 'system/memory': 40 }]);
    });

    it('answers a malformed body with 400 and changes nothing', async () => {
      await gql(UPSERT, { name: 'w4', project: 'wire', entity: 'admin' });
      await stream('w4', {
        files: { 'wandb-history.jsonl': { offset: 0, content: ['{"_step": 0, "loss": 1}'] } },
      });
      const before = await snapshot('w4');
      const malformed = [
        '{"files": {"wandb-history.jsonl": {"offset": 1, "content": ["{\\"_step\\": 1, \\"loss\\": 2}", "{oops"]}}}',
        '{"files": {"wandb-history.jsonl": {"offset": 1, "content": ["{\\"_step\\": 1}"]}}, "complete": true}',
        '{"files": {"wandb-history.jsonl": {"offset": "1", "content": []}}}',
        '{"files": {"wandb-history.jsonl": {"offset": 1, "content": ["[1]"]}}}',
        '{"files": {"wandb-summary.json": {"offset": 0, "content": ["{\\"loss\\": nan}"]}}}',
        '{"files": ',
        '"a string"',
      ];
      for (const body of malformed) {
        const res = await stream('w4', body);
        expect(res.status, body).toBe(400);
        expect(res.body.error.code, body).toBe('invalid_request');
      }
      const after = await snapshot('w4');
      expect(after).toEqual(before);
      // Offsets are untouched: the next real chunk (offset 1) is stored.
      await stream('w4', {
        files: { 'wandb-history.jsonl': { offset: 1, content: ['{"_step": 1, "loss": 2}'] } },
      });
      expect((await snapshot('w4')).history).toHaveLength(2);
      // Unauthenticated, or for a run that does not exist: nothing stored either.
      expect(
        (await post('/files/admin/wire/w4/file_stream', { complete: true, exitcode: 0 }, '')).status,
      ).toBe(401);
      expect((await stream('nope', { complete: true, exitcode: 0 })).status).toBe(404);
      expect((await snapshot('w4')).run.state).toBe('RUNNING');
    });
  });
}
