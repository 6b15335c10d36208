import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';

type Api = ReturnType<typeof client>;

const runStateBody = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
  event: {
    type: 'RUN_STATE',
    filter: { run_filter: { $and: [] }, run_state_filter: { states: ['FAILED'] } },
  },
  action: { type: 'NO_OP' },
  ...extra,
});

/** The webhook integration the template cases need (signing secret HOOK_SIGNING). */
async function webhookIntegration(api: Api): Promise<string> {
  expect((await api('PUT', '/teams/ml/secrets/HOOK_SIGNING', { value: 's3cr3t-value' })).status).toBe(200);
  const res = await api('POST', '/teams/ml/integrations', {
    kind: 'webhook',
    name: 'hook',
    url: 'https://example.com/hook',
    secret: 'HOOK_SIGNING',
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`automations API on ${dialect}`, () => {
    let server: ServerProcess;
    let admin: Api;
    let bob: Api; // member of ml
    let carol: Api; // not in ml
    let hookId: string;

    beforeAll(async () => {
      server = await startServerProcess({ dialect, env: { TRIPLINE_ROLE: 'api' } });
      admin = client(server.url, server.apiKey);
      expect((await admin('POST', '/teams', { name: 'ml' })).status).toBe(201);
      expect((await admin('POST', '/teams/ml/projects', { name: 'mnist' })).status).toBe(201);
      expect((await admin('POST', '/teams/ml/projects', { name: 'cifar' })).status).toBe(201);
      expect((await admin('POST', '/teams/ml/registries', { name: 'models' })).status).toBe(201);
      const b = await admin('POST', '/users', { username: 'bob' });
      const c = await admin('POST', '/users', { username: 'carol' });
      bob = client(server.url, b.body.apiKey);
      carol = client(server.url, c.body.apiKey);
      expect((await admin('PUT', '/teams/ml/members/bob', { role: 'member' })).status).toBe(200);
      hookId = await webhookIntegration(admin);
    });
    afterAll(async () => server?.stop());

    it('creates, reads, lists by team/project/registry, updates, disables and deletes', async () => {
      const created = await admin('POST', '/automations', runStateBody('failures', { description: 'd' }));
      expect(created.status).toBe(201);
      const a = created.body;
      expect(a).toMatchObject({
        name: 'failures',
        description: 'd',
        enabled: true,
        scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
        event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
        action: { type: 'NO_OP' },
        lastExecutionAt: null,
      });
      expect(typeof a.id).toBe('string');
      expect(typeof a.createdAt).toBe('string');
      expect(typeof a.updatedAt).toBe('string');

      const reg = await admin('POST', '/automations', {
        name: 'prod-links',
        scope: { type: 'REGISTRY', team: 'ml', registry: 'models' },
        event: { type: 'LINK_MODEL', filter: {} },
        action: { type: 'NO_OP' },
      });
      expect(reg.status).toBe(201);
      expect(reg.body.event.type).toBe('LINK_ARTIFACT'); // W&B's other name is normalised
      const col = await admin('POST', '/automations', {
        name: 'clf-aliases',
        scope: { type: 'ARTIFACT_COLLECTION', team: 'ml', project: 'cifar', collection: 'clf' },
        event: { type: 'ADD_ARTIFACT_ALIAS', filter: { alias: { $regex: '^prod' } } },
        action: { type: 'NO_OP' },
      });
      expect(col.status).toBe(201);
      expect(col.body.scope).toEqual({
        type: 'ARTIFACT_COLLECTION',
        team: 'ml',
        project: 'cifar',
        collection: 'clf',
      });
      const team = await admin('POST', '/automations', {
        name: 'any-tag',
        scope: { type: 'TEAM', team: 'ml' },
        event: { type: 'ADD_ARTIFACT_TAG' },
        action: { type: 'NO_OP' },
      });
      expect(team.status).toBe(201);

      expect((await admin('GET', `/automations/${a.id}`)).body).toEqual(a);
      // A member may read and list.
      expect((await bob('GET', `/automations/${a.id}`)).status).toBe(200);
      const names = (r: { body: { items: Array<{ name: string }> } }) => r.body.items.map((x) => x.name);
      expect(names(await bob('GET', '/automations?team=ml'))).toEqual([
        'any-tag',
        'clf-aliases',
        'failures',
        'prod-links',
      ]);
      expect(names(await admin('GET', '/automations?team=ml&project=mnist'))).toEqual(['failures']);
      expect(names(await admin('GET', '/automations?team=ml&project=cifar'))).toEqual(['clf-aliases']);
      expect(names(await admin('GET', '/automations?team=ml&registry=models'))).toEqual(['prod-links']);
      const missingTeam = await admin('GET', '/automations');
      expect(missingTeam.status).toBe(400);
      expect(missingTeam.body.error.field).toBe('team');
      // Paging by name.
      const p1 = await admin('GET', '/automations?team=ml&limit=3');
      expect(names(p1)).toHaveLength(3);
      const p2 = await admin('GET', `/automations?team=ml&limit=3&cursor=${p1.body.nextCursor}`);
      expect(names(p2)).toEqual(['prod-links']);
      expect(p2.body.nextCursor).toBeNull();

      const upd = await admin('PATCH', `/automations/${a.id}`, {
        description: 'changed',
        event: {
          type: 'RUN_STATE',
          filter: { run_state_filter: { states: ['FINISHED', 'CRASHED'] } },
        },
      });
      expect(upd.status).toBe(200);
      expect(upd.body.description).toBe('changed');
      expect(upd.body.name).toBe('failures');
      expect([...upd.body.event.filter.run_state_filter.states].sort()).toEqual(['FAILED', 'FINISHED']);

      const off = await admin('PATCH', `/automations/${a.id}`, { enabled: false });
      expect(off.body.enabled).toBe(false);
      expect((await admin('GET', `/automations/${a.id}`)).body.enabled).toBe(false);
      const on = await admin('PATCH', `/automations/${a.id}`, { enabled: true });
      expect(on.body.enabled).toBe(true);

      const badPatch = await admin('PATCH', `/automations/${a.id}`, { enabled: 'yes' });
      expect(badPatch.status).toBe(400);
      expect(badPatch.body.error.field).toBe('enabled');

      expect((await admin('DELETE', `/automations/${a.id}`)).status).toBe(200);
      expect((await admin('GET', `/automations/${a.id}`)).status).toBe(404);
      expect((await admin('DELETE', `/automations/${a.id}`)).status).toBe(404);
      expect(names(await admin('GET', '/automations?team=ml&project=mnist'))).toEqual([]);
    });

    it('names are unique per team: 409 on create and on rename', async () => {
      const first = await admin('POST', '/automations', runStateBody('dup'));
      expect(first.status).toBe(201);
      const again = await admin('POST', '/automations', runStateBody('dup'));
      expect(again.status).toBe(409);
      expect(again.body.error.field).toBe('name');
      const other = await admin('POST', '/automations', runStateBody('dup-2'));
      expect(other.status).toBe(201);
      const rename = await admin('PATCH', `/automations/${other.body.id}`, { name: 'dup' });
      expect(rename.status).toBe(409);
      // The same name in another team is fine (carol's personal team).
      const mine = await carol('POST', '/automations', {
        name: 'dup',
        scope: { type: 'TEAM', team: 'carol' },
        event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
        action: { type: 'NO_OP' },
      });
      expect(mine.status).toBe(201);
    });

    const invalid: Array<[string, Record<string, unknown>, string]> = [
      [
        'event type not allowed in the scope',
        {
          scope: { type: 'REGISTRY', team: 'ml', registry: 'models' },
          event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
        },
        'event.type',
      ],
      [
        'CREATE_ARTIFACT at team scope',
        { scope: { type: 'TEAM', team: 'ml' }, event: { type: 'CREATE_ARTIFACT' } },
        'event.type',
      ],
      ['unknown event type', { event: { type: 'RUN_EXPLODED' } }, 'event.type'],
      [
        'bad filter operator',
        {
          scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
          event: { type: 'ADD_ARTIFACT_ALIAS', filter: { alias: { $like: 'prod%' } } },
        },
        'event.filter.alias.$like',
      ],
      [
        'unsafe regex (backreference)',
        {
          scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
          event: { type: 'ADD_ARTIFACT_ALIAS', filter: { alias: { $regex: '(a+)\\1' } } },
        },
        'event.filter.alias.$regex',
      ],
      [
        'invalid regex',
        {
          event: {
            type: 'RUN_STATE',
            filter: {
              run_filter: { display_name: { $regex: '([unclosed' } },
              run_state_filter: { states: ['FAILED'] },
            },
          },
        },
        'event.filter.run_filter.display_name.$regex',
      ],
      [
        'threshold window < 1',
        {
          event: {
            type: 'RUN_METRIC',
            filter: {
              threshold_filter: {
                name: 'loss',
                agg_op: 'AVERAGE',
                window_size: 0,
                cmp_op: '$gt',
                threshold: 1,
              },
            },
          },
        },
        'event.filter.threshold_filter.window_size',
      ],
      [
        'z-score threshold <= 0',
        {
          event: {
            type: 'RUN_METRIC_ZSCORE',
            filter: { zscore_filter: { name: 'acc', window_size: 10, threshold: 0, change_dir: 'ANY' } },
          },
        },
        'event.filter.zscore_filter.threshold',
      ],
      [
        'change amount <= 0',
        {
          event: {
            type: 'RUN_METRIC_CHANGE',
            filter: {
              change_filter: {
                name: 'loss',
                agg_op: 'AVERAGE',
                current_window_size: 5,
                prior_window_size: 5,
                change_type: 'ABSOLUTE',
                change_dir: 'ANY',
                change_amount: -0.5,
              },
            },
          },
        },
        'event.filter.change_filter.change_amount',
      ],
      [
        'run state that never triggers',
        { event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['KILLED'] } } } },
        'event.filter.run_state_filter.states',
      ],
      ['bad scope type', { scope: { type: 'ORG', team: 'ml' } }, 'scope.type'],
      ['bad action type', { action: { type: 'EMAIL' } }, 'action.type'],
      ['negative rate limit', { rateLimitPerHour: -1 }, 'rateLimitPerHour'],
      ['filter string not JSON', { event: { type: 'RUN_STATE', filter: '{"run_state' } }, 'event.filter'],
    ];
    for (const [what, patch, field] of invalid) {
      it(`rejects ${what}, naming ${field}`, async () => {
        const res = await admin('POST', '/automations', { ...runStateBody(`bad-${what}`), ...patch });
        expect(res.status, JSON.stringify(res.body)).toBe(400);
        expect(res.body.error.field, res.body.error.message).toBe(field);
        expect(res.body.error.message).toBeTruthy();
      });
    }

    it('webhook payload templates: unknown variables fail at save time', async () => {
      const base = {
        name: 'hooked',
        scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
        event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
      };
      const bad = await admin('POST', '/automations', {
        ...base,
        action: { type: 'GENERIC_WEBHOOK', integrationId: hookId, payload: { text: '${run_nme} failed' } },
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error.field).toBe('action.payload');
      expect(bad.body.error.message).toContain('run_nme');
      // A secret of the integration may be used; another name is a typo.
      const otherSecret = await admin('POST', '/automations', {
        ...base,
        action: { type: 'GENERIC_WEBHOOK', integrationId: hookId, payload: { sig: '${HOOK_SIGNNG}' } },
      });
      expect(otherSecret.status).toBe(400);
      expect(otherSecret.body.error.field).toBe('action.payload');
      const withSecret = await admin('POST', '/automations', {
        ...base,
        name: 'hooked-secret',
        action: {
          type: 'GENERIC_WEBHOOK',
          integrationId: hookId,
          payload: { sig: '${HOOK_SIGNING}', token: '${ACCESS_TOKEN}', v: '${artifact_metadata.acc}' },
        },
      });
      expect(withSecret.status, JSON.stringify(withSecret.body)).toBe(201);
      const unknownIntegration = await admin('POST', '/automations', {
        ...base,
        action: { type: 'GENERIC_WEBHOOK', integrationId: 'nope', payload: { text: 'x' } },
      });
      expect(unknownIntegration.status).toBe(400);
      expect(unknownIntegration.body.error.field).toBe('action.integrationId');
      const good = await admin('POST', '/automations', {
        ...base,
        action: {
          type: 'GENERIC_WEBHOOK',
          integrationId: hookId,
          // Given as a JSON string, as W&B's client sends it.
          payload: JSON.stringify({ text: '${run_name} is ${run_state} in ${project_name}' }),
        },
      });
      expect(good.status, JSON.stringify(good.body)).toBe(201);
      expect(good.body.action).toMatchObject({
        type: 'GENERIC_WEBHOOK',
        integrationId: hookId,
        payload: { text: '${run_name} is ${run_state} in ${project_name}' },
      });
      // A PATCH that introduces a typo is rejected and leaves the automation unchanged.
      const patch = await admin('PATCH', `/automations/${good.body.id}`, {
        action: { type: 'GENERIC_WEBHOOK', integrationId: hookId, payload: { text: '${metric_vlaue}' } },
      });
      expect(patch.status).toBe(400);
      expect(patch.body.error.field).toBe('action.payload');
      expect((await admin('GET', `/automations/${good.body.id}`)).body.action.payload.text).toContain(
        'run_name',
      );
    });

    it('accepts filters as objects or W&B JSON strings, including a double-encoded run_filter', async () => {
      const runFilter = { $or: [{ $and: [{ display_name: { $contains: 'resnet' } }] }] };
      const thresholds = {
        name: 'loss',
        agg_op: 'AVERAGE',
        window_size: 5,
        cmp_op: '$gt',
        threshold: 0.5,
      };
      const asObject = await admin('POST', '/automations', {
        name: 'loss-obj',
        scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
        event: { type: 'RUN_METRIC', filter: { run_filter: runFilter, threshold_filter: thresholds } },
        action: { type: 'NO_OP' },
      });
      expect(asObject.status, JSON.stringify(asObject.body)).toBe(201);
      const asString = await admin('POST', '/automations', {
        name: 'loss-str',
        scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
        event: {
          type: 'RUN_METRIC',
          // W&B: the filter is a JSON string whose run_filter is itself a JSON string.
          filter: JSON.stringify({
            run_filter: JSON.stringify(runFilter),
            run_metric_filter: { threshold_filter: thresholds },
          }),
        },
        action: { type: 'NO_OP' },
      });
      expect(asString.status, JSON.stringify(asString.body)).toBe(201);
      expect(asString.body.event.filter).toEqual(asObject.body.event.filter);
      expect(asString.body.event.filter.run_filter).toEqual(runFilter);
      // A double-encoded string of the whole run_filter (a JSON string of a JSON string).
      const doubly = await admin('POST', '/automations', {
        name: 'fail-doubly',
        scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
        event: {
          type: 'RUN_STATE',
          filter: {
            run_filter: JSON.stringify(JSON.stringify(runFilter)),
            run_state_filter: '{"states":["FAILED"]}',
          },
        },
        action: { type: 'NO_OP' },
      });
      expect(doubly.status, JSON.stringify(doubly.body)).toBe(201);
      expect(doubly.body.event.filter.run_filter).toEqual(runFilter);
      expect(doubly.body.event.filter.run_state_filter).toEqual({ states: ['FAILED'] });
      // Artifact filter as a JSON string.
      const art = await admin('POST', '/automations', {
        name: 'prod-alias-str',
        scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
        event: {
          type: 'ADD_ARTIFACT_ALIAS',
          filter: '{"$or":[{"$and":[{"alias":{"$regex":"^prod"}}]}]}',
        },
        action: { type: 'NO_OP' },
      });
      expect(art.status, JSON.stringify(art.body)).toBe(201);
      expect(art.body.event.filter).toEqual({ $or: [{ $and: [{ alias: { $regex: '^prod' } }] }] });
    });

    it('only team admins manage automations: member 403, other team 404', async () => {
      const a = await admin('POST', '/automations', runStateBody('guarded'));
      expect(a.status).toBe(201);
      const id = a.body.id;

      const create = await bob('POST', '/automations', runStateBody('by-bob'));
      expect(create.status).toBe(403);
      expect((await bob('PATCH', `/automations/${id}`, { description: 'x' })).status).toBe(403);
      expect((await bob('DELETE', `/automations/${id}`)).status).toBe(403);
      expect((await bob('GET', `/automations/${id}`)).status).toBe(200);
      expect((await bob('GET', `/automations/${id}/executions`)).status).toBe(200);

      expect((await carol('GET', `/automations/${id}`)).status).toBe(404);
      expect((await carol('PATCH', `/automations/${id}`, { description: 'x' })).status).toBe(404);
      expect((await carol('DELETE', `/automations/${id}`)).status).toBe(404);
      expect((await carol('GET', `/automations/${id}/executions`)).status).toBe(404);
      expect((await carol('GET', '/automations?team=ml')).status).toBe(404);
      expect((await carol('POST', '/automations', runStateBody('by-carol'))).status).toBe(404);
      // Nor may an admin move an automation into a team they do not belong to.
      const move = await admin('PATCH', `/automations/${id}`, {
        scope: { type: 'TEAM', team: 'carol' },
      });
      expect(move.status).toBe(404);

      // Promoted to admin, bob may manage it.
      expect((await admin('PUT', '/teams/ml/members/bob', { role: 'admin' })).status).toBe(200);
      expect((await bob('PATCH', `/automations/${id}`, { description: 'by bob' })).status).toBe(200);
      expect((await admin('PUT', '/teams/ml/members/bob', { role: 'member' })).status).toBe(200);
      expect((await bob('DELETE', `/automations/${id}`)).status).toBe(403);
      const unauth = await fetch(`${server.url}/api/v1/automations/${id}`);
      expect(unauth.status).toBe(401);
    });
  });
}
