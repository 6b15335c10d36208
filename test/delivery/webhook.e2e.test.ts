import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';
import {
  apiOf,
  type FakeSlack,
  type Hit,
  type Receiver,
  settled,
  startFakeSlack,
  startReceiver,
  waitFor,
} from './lib.js';

/**
 * Webhooks and Slack notifications end to end, through a real server process: one automation per
 * event type posts to a local receiver; each request must carry exactly the expected body (every
 * variable rendered for that event, awkward run names kept valid JSON) and headers (Bearer token,
 * W&B signature, Standard Webhooks signature verified with the `standardwebhooks` package). A Slack
 * bot-token integration posts to a fake Slack Web API that allows one message per second per channel.
 */

const TOKEN = 'tok-AbC123-access';
const SIGNING = 'sig-s3cr3t-ÿ-value';
const SLACK_TOKEN = 'xoxb-fake-bot-token-42';
// Quotes, backslash, newline, tab, unicode, an HTML end tag and a template-looking text that must
// stay literal (values are never substituted twice).
const WEIRD = 'he said "hi" \\ back\nline2\t— ünïcødé 🚀 </script> ${ACCESS_TOKEN} }"';

const payload = (name: string) => ({
  automation: name,
  event: '${event_type}',
  project: '${project_name}',
  entity: '${entity_name}',
  author: '${event_author}',
  alias: '${alias}',
  tag: '${tag}',
  collection: '${artifact_collection_name}',
  version: '${artifact_version}',
  versionString: '${artifact_version_string}',
  accuracy: '${artifact_metadata.accuracy}',
  epochs: '${artifact_metadata.train.epochs}',
  run: { name: '${run_name}', id: '${run_id}', state: '${run_state}' },
  metric: { name: '${metric_name}', value: '${metric_value}' },
  text: '${run_name} is ${run_state}; ${metric_name}=${metric_value} [${artifact_version_string}]',
  auth: 'Bearer ${ACCESS_TOKEN}',
  signing: '${WH_SIGNING}',
});

type Expect = {
  event: string;
  project?: string | null;
  author?: string | null;
  alias?: string | null;
  tag?: string | null;
  collection?: string | null;
  version?: string | null;
  versionString?: string | null;
  accuracy?: number | null;
  epochs?: number | null;
  run?: { name: string | null; id: string | null; state: string | null };
  metric?: { name: string | null; value: number | null };
};

/** The body a receiver must get: the template with every variable of that event filled in. */
function expectedBody(name: string, e: Expect) {
  const run = e.run ?? { name: null, id: null, state: null };
  const metric = e.metric ?? { name: null, value: null };
  const s = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  return {
    automation: name,
    event: e.event,
    project: e.project ?? null,
    entity: 'ml',
    author: e.author ?? 'admin',
    alias: e.alias ?? null,
    tag: e.tag ?? null,
    collection: e.collection ?? null,
    version: e.version ?? null,
    versionString: e.versionString ?? null,
    accuracy: e.accuracy ?? null,
    epochs: e.epochs ?? null,
    run,
    metric,
    text: `${s(run.name)} is ${s(run.state)}; ${s(metric.name)}=${s(metric.value)} [${s(e.versionString)}]`,
    auth: `Bearer ${TOKEN}`,
    signing: SIGNING,
  };
}

function checkHeaders(hit: Hit, executionId: string) {
  expect(hit.method).toBe('POST');
  expect(hit.headers['content-type']).toBe('application/json');
  expect(hit.headers['user-agent']).toMatch(/^Tripline\/\d+\.\d+\.\d+/);
  expect(hit.headers.authorization).toBe(`Bearer ${TOKEN}`);
  expect(hit.headers['x-wandb-signature']).toBe(
    createHmac('sha256', SIGNING).update(hit.body, 'utf8').digest('base64'),
  );
  expect(hit.headers['webhook-id']).toBe(executionId);
  const wh = new Webhook(`whsec_${Buffer.from(SIGNING, 'utf8').toString('base64')}`);
  // Throws on a bad signature, a missing header or a timestamp out of tolerance.
  expect(() => wh.verify(hit.body, hit.headers as Record<string, string>)).not.toThrow();
  // And the check is real: a changed body does not verify.
  expect(() => wh.verify(`${hit.body} `, hit.headers as Record<string, string>)).toThrow();
}

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`webhook and Slack delivery end to end (${dialect})`, () => {
    let server: ServerProcess;
    let receiver: Receiver;
    let slack: FakeSlack;
    let ok: ReturnType<typeof apiOf>['ok'];
    let api: ReturnType<typeof apiOf>['api'];
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      receiver = await startReceiver();
      slack = await startFakeSlack(SLACK_TOKEN);
      server = await startServerProcess({
        dialect,
        env: {
          TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
          TRIPLINE_SLACK_API_URL: slack.apiUrl,
          TRIPLINE_RETRY_SCALE: '0.001',
        },
      });
      ({ ok, api } = apiOf(server.url, server.apiKey));
      await ok('POST', '/teams', { name: 'ml' });
      await ok('POST', '/teams/ml/projects', { name: 'mnist' });
      await ok('POST', '/teams/ml/registries', { name: 'models' });
      await ok('PUT', '/teams/ml/secrets/WH_TOKEN', { value: TOKEN });
      await ok('PUT', '/teams/ml/secrets/WH_SIGNING', { value: SIGNING });
      await ok('PUT', '/teams/ml/secrets/SLACK_BOT', { value: SLACK_TOKEN });
      const hook = await ok('POST', '/teams/ml/integrations', {
        kind: 'webhook',
        name: 'receiver',
        url: `${receiver.url}/ok/hook`,
        accessTokenSecret: 'WH_TOKEN',
        secret: 'WH_SIGNING',
      });
      const sl = await ok('POST', '/teams/ml/integrations', {
        kind: 'slack',
        name: 'slack',
        channel: 'alerts',
        botTokenSecret: 'SLACK_BOT',
      });
      const project = { type: 'PROJECT', team: 'ml', project: 'mnist' };
      const registry = { type: 'REGISTRY', team: 'ml', registry: 'models' };
      const defs: Array<[string, unknown, unknown]> = [
        ['create', project, { type: 'CREATE_ARTIFACT' }],
        ['alias', project, { type: 'ADD_ARTIFACT_ALIAS', filter: { alias: { $regex: '^prod' } } }],
        ['tag-add', project, { type: 'ADD_ARTIFACT_TAG' }],
        ['tag-remove', project, { type: 'REMOVE_ARTIFACT_TAG' }],
        ['link', registry, { type: 'LINK_ARTIFACT' }],
        ['unlink', registry, { type: 'UNLINK_ARTIFACT' }],
        ['state', project, { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } }],
        [
          'metric',
          project,
          {
            type: 'RUN_METRIC',
            filter: {
              threshold_filter: { name: 'loss', agg_op: 'MAX', window_size: 1, cmp_op: '$gt', threshold: 5 },
            },
          },
        ],
        [
          'change',
          project,
          {
            type: 'RUN_METRIC_CHANGE',
            filter: {
              change_filter: {
                name: 'loss',
                agg_op: 'AVERAGE',
                current_window_size: 2,
                prior_window_size: 2,
                change_type: 'ABSOLUTE',
                change_dir: 'INCREASE',
                change_amount: 0.5,
              },
            },
          },
        ],
        [
          'zscore',
          project,
          {
            type: 'RUN_METRIC_ZSCORE',
            filter: { zscore_filter: { name: 'acc', window_size: 5, threshold: 2, change_dir: 'INCREASE' } },
          },
        ],
      ];
      for (const [name, scope, event] of defs) {
        const a = await ok('POST', '/automations', {
          name,
          scope,
          event,
          rateLimitPerHour: 0,
          action: { type: 'GENERIC_WEBHOOK', integrationId: hook.id, payload: payload(name) },
        });
        ids[name] = a.id;
      }
      const n = await ok('POST', '/automations', {
        name: 'slack-failed',
        scope: project,
        event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
        rateLimitPerHour: 0,
        action: {
          type: 'NOTIFICATION',
          integrationId: sl.id,
          title: 'Run failed',
          message: 'A run in *mnist* failed.',
          severity: 'ERROR',
        },
      });
      ids.slack = n.id;

      // Artifact events: create, alias, tag add/remove, link into the registry, unlink.
      const mnist = '/teams/ml/projects/mnist/artifacts';
      await ok('POST', mnist, {
        collection: 'model-a',
        type: 'model',
        metadata: { accuracy: 0.93, train: { epochs: 3 } },
      });
      await ok('POST', `${mnist}/model-a/v0/aliases`, { alias: 'production' });
      await ok('POST', `${mnist}/model-a/v0/tags`, { tag: 'candidate' });
      await ok('DELETE', `${mnist}/model-a/v0/tags/candidate`);
      await ok('POST', '/teams/ml/registries/models/collections/prod-models/links', {
        source: 'ml/mnist/model-a:v0',
      });
      await ok('DELETE', '/teams/ml/registries/models/collections/prod-models/links/v0');

      // Run events: five baseline runs for the z-score, then the weird run.
      const runs = '/teams/ml/projects/mnist/runs';
      for (const [i, acc] of [0.82, 0.8, 0.81, 0.79, 0.8].entries()) {
        await ok('POST', runs, { id: `base-${i}`, displayName: `base-${i}` });
        await ok('POST', `${runs}/base-${i}/history`, { rows: [{ _step: 0, acc }] });
        await ok('PATCH', `${runs}/base-${i}`, { state: 'FINISHED' });
      }
      await ok('POST', runs, { id: 'weird', displayName: WEIRD });
      await ok('POST', `${runs}/weird/history`, {
        rows: [
          { _step: 0, loss: 1 },
          { _step: 1, loss: 1 },
          { _step: 2, loss: 2 },
          { _step: 3, loss: 2 },
          { _step: 4, loss: 10, acc: 0.99 },
        ],
      });
      await ok('PATCH', `${runs}/weird`, { state: 'FAILED' });
      // Three more failures: four Slack messages to one channel.
      for (const i of [1, 2, 3]) {
        await ok('POST', runs, { id: `f${i}`, displayName: `fails-${i}` });
        await ok('PATCH', `${runs}/f${i}`, { state: 'FAILED' });
      }
    });

    afterAll(async () => {
      await server?.stop();
      await receiver?.close();
      await slack?.close();
    });

    const artifact = {
      project: 'mnist',
      collection: 'model-a',
      version: 'v0',
      accuracy: 0.93,
      epochs: 3,
    };
    const weirdRun = { name: WEIRD, id: 'weird' };
    const cases: Array<[string, Expect]> = [
      ['create', { event: 'CREATE_ARTIFACT', ...artifact, versionString: 'ml/mnist/model-a:v0' }],
      [
        'alias',
        {
          event: 'ADD_ARTIFACT_ALIAS',
          ...artifact,
          alias: 'production',
          versionString: 'ml/mnist/model-a:production',
        },
      ],
      [
        'tag-add',
        { event: 'ADD_ARTIFACT_TAG', ...artifact, tag: 'candidate', versionString: 'ml/mnist/model-a:v0' },
      ],
      [
        'tag-remove',
        { event: 'REMOVE_ARTIFACT_TAG', ...artifact, tag: 'candidate', versionString: 'ml/mnist/model-a:v0' },
      ],
      [
        'link',
        {
          event: 'LINK_ARTIFACT',
          ...artifact,
          project: 'models',
          collection: 'prod-models',
          versionString: 'ml/models/prod-models:v0',
        },
      ],
      [
        'unlink',
        {
          event: 'UNLINK_ARTIFACT',
          ...artifact,
          project: 'models',
          collection: 'prod-models',
          versionString: 'ml/models/prod-models:v0',
        },
      ],
      [
        'metric',
        {
          event: 'RUN_METRIC',
          project: 'mnist',
          run: { ...weirdRun, state: 'RUNNING' },
          metric: { name: 'loss', value: 10 },
        },
      ],
      [
        'change',
        {
          event: 'RUN_METRIC_CHANGE',
          project: 'mnist',
          // step 3: current window (2, 2) averages 2 against the prior (1, 1).
          run: { ...weirdRun, state: 'RUNNING' },
          metric: { name: 'loss', value: 2 },
        },
      ],
      [
        'zscore',
        {
          event: 'RUN_METRIC_ZSCORE',
          project: 'mnist',
          run: { ...weirdRun, state: 'RUNNING' },
          metric: { name: 'acc', value: 0.99 },
        },
      ],
    ];

    it.each(cases)('%s: exactly the expected body and headers, signed', async (name, e) => {
      const [ex] = await settled(api, ids[name], 1);
      expect(ex.state).toBe('FINISHED');
      const hits = receiver.hits.filter((h) => JSON.parse(h.body).automation === name);
      expect(hits).toHaveLength(1);
      const hit = hits[0];
      const want = expectedBody(name, e);
      expect(JSON.parse(hit.body)).toEqual(want);
      // The template's key order is kept, so the text is exactly this serialisation.
      expect(hit.body).toBe(JSON.stringify(want));
      checkHeaders(hit, ex.id);
      // History: the rendered payload with both secrets masked, the receiver's answer, one attempt.
      expect(ex.action.payload).toEqual({ ...want, auth: 'Bearer ••••••', signing: '••••••' });
      expect(ex.result).toMatchObject({ status: 200, body: '{"received":true}' });
      expect(ex.attempts).toHaveLength(1);
      expect(ex.attempts[0]).toMatchObject({ status: 200 });
      expect(ex.attempts[0].durationMs).toBeGreaterThanOrEqual(0);
    });

    it('RUN_STATE: one request per failed run, each with its own run name and webhook-id', async () => {
      const ex = await settled(api, ids.state, 4);
      expect(ex).toHaveLength(4);
      const hits = receiver.hits.filter((h) => JSON.parse(h.body).automation === 'state');
      expect(hits).toHaveLength(4);
      const byRun = new Map(hits.map((h) => [JSON.parse(h.body).run.id, h]));
      for (const e of ex) {
        expect(e.state).toBe('FINISHED');
        const runId = e.event.details.runId as string;
        const name = runId === 'weird' ? WEIRD : `fails-${runId.slice(1)}`;
        const hit = byRun.get(runId)!;
        const want = expectedBody('state', {
          event: 'RUN_STATE',
          project: 'mnist',
          run: { name, id: runId, state: 'FAILED' },
        });
        expect(hit.body).toBe(JSON.stringify(want));
        checkHeaders(hit, e.id);
      }
    });

    it('Slack: four notifications to one channel, at least a second apart, none lost', async () => {
      const ex = await settled(api, ids.slack, 4, 30_000);
      expect(ex.map((e) => e.state)).toEqual(['FINISHED', 'FINISHED', 'FINISHED', 'FINISHED']);
      await waitFor('four Slack messages', () => slack.accepted.length >= 4);
      expect(slack.accepted).toHaveLength(4);
      expect(slack.rejected).toHaveLength(0);
      for (const p of slack.accepted) {
        expect(p.authorization).toBe(`Bearer ${SLACK_TOKEN}`);
        expect(p.channel).toBe('alerts');
      }
      const gaps = slack.accepted.slice(1).map((p, i) => p.at - slack.accepted[i].at);
      for (const g of gaps) expect(g).toBeGreaterThanOrEqual(1000);
      // Tripline paces itself: Slack never has to answer 429.
      expect(slack.limited).toHaveLength(0);
      // Each run's message names it; the weird name arrives intact (escaped for mrkdwn: & < >).
      const texts = JSON.stringify(slack.accepted.map((p) => [p.text, p.blocks, p.attachments]));
      const mrkdwn = (t: string) =>
        t.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
      for (const name of [WEIRD, 'fails-1', 'fails-2', 'fails-3'])
        expect(texts).toContain(JSON.stringify(mrkdwn(name)).slice(1, -1));
      expect(texts).toContain('Run failed');
      expect(texts).toContain('#E01E5A'); // ERROR colour
      console.log(
        `[slack] gaps between accepted messages: ${gaps.join(', ')} ms; 429s: ${slack.limited.length}`,
      );
    });

    it('redelivery sends the same body again with the same webhook-id, freshly signed', async () => {
      const [ex] = await settled(api, ids.create, 1);
      const before = receiver.hits.filter((h) => JSON.parse(h.body).automation === 'create');
      expect(before).toHaveLength(1);
      await ok('POST', `/executions/${ex.id}/redeliver`);
      const after = await waitFor('the redelivered request', () => {
        const h = receiver.hits.filter((x) => JSON.parse(x.body).automation === 'create');
        return h.length === 2 ? h : undefined;
      });
      expect(after[1].body).toBe(after[0].body);
      expect(after[1].headers['webhook-id']).toBe(ex.id);
      checkHeaders(after[1], ex.id);
      const [again] = await settled(api, ids.create, 1);
      expect(again.state).toBe('FINISHED');
      expect(again.attempts).toHaveLength(2);
    });
  });
}
