import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../helpers/server.js';
import {
  type FakeSlack,
  type Receiver,
  settled,
  sleep,
  startFakeSlack,
  startReceiver,
  waitFor,
} from './lib.js';

/**
 * No secret value leaves the vault except towards its target: a realistic flow with a webhook
 * signing secret, an access token, a Slack bot token, a Slack incoming-webhook URL and a rotated
 * secret — secrets used in payloads (`${WH_SIGNING}`, `${ACCESS_TOKEN}`), a failing receiver, a
 * receiver that echoes requests back (as httpbin does), test calls, previews, redelivery,
 * validation errors and deletion warnings. Every server log line (at trace level), every API
 * response body, every history record and the database files are searched for every secret value
 * (raw, base64, and its random core in any escaping): none may appear. History shows `••••••`.
 */

const rnd = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
const SECRETS = {
  WH_SIGNING: rnd('sig-"quote"-'),
  WH_TOKEN: rnd('tok-'),
  SLACK_BOT: rnd('xoxb-'),
  OLD_TOKEN: rnd('old-'),
  ROTATED_TOKEN: rnd('new-'),
};
// The incoming-webhook URL is a secret as a whole (its path is the credential).
const HOOK_PATH = rnd('/ok/slack-hook-');

let server: ServerProcess;
let receiver: Receiver;
let slack: FakeSlack;
const responses: string[] = [];

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(
    `${server.url}${path.startsWith('/api') || path === '/metrics' ? '' : '/api/v1'}${path}`,
    {
      method,
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
  );
  const text = await res.text();
  responses.push(`${method} ${path} → ${res.status} ${text}`);
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}
async function ok(method: string, path: string, body?: unknown) {
  const r = await call(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * What to search for: the value raw and base64-encoded, and its random 24-hex-digit core, which
 * survives any JSON escaping (also escaped twice, as an echo inside a JSON answer) and URL encoding.
 */
function forms(value: string): string[] {
  return [value, Buffer.from(value).toString('base64'), ...(value.match(/[0-9a-f]{24}/g) ?? [])];
}

const ids: Record<string, string> = {};

beforeAll(async () => {
  receiver = await startReceiver();
  slack = await startFakeSlack(SECRETS.SLACK_BOT);
  server = await startServerProcess({
    env: {
      TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
      TRIPLINE_SLACK_API_URL: slack.apiUrl,
      TRIPLINE_RETRY_SCALE: '0.0001',
      TRIPLINE_LOG_LEVEL: 'trace',
    },
  });
  const hookUrl = `${receiver.url}${HOOK_PATH}`;
  await ok('POST', '/teams', { name: 'ml' });
  await ok('POST', '/teams/ml/projects', { name: 'p' });
  for (const [name, value] of Object.entries(SECRETS))
    await ok('PUT', `/teams/ml/secrets/${name}`, { value });
  await ok('PUT', '/teams/ml/secrets/SLACK_HOOK', { value: hookUrl });
  // Rotation: the old value must be gone from everything too.
  await ok('PUT', '/teams/ml/secrets/ROTATED_TOKEN', { value: `${SECRETS.ROTATED_TOKEN}-v2` });
  await ok('GET', '/teams/ml/secrets');

  const webhook = (name: string, path: string, token = 'WH_TOKEN') =>
    ok('POST', '/teams/ml/integrations', {
      kind: 'webhook',
      name,
      url: `${receiver.url}${path}`,
      accessTokenSecret: token,
      secret: 'WH_SIGNING',
    });
  ids.hook = (await webhook('receiver', '/ok/hook')).id;
  ids.echo = (await webhook('echo', '/echo/hook')).id;
  ids.flaky = (await webhook('flaky', '/fail/2/500/flaky')).id;
  ids.rotated = (await webhook('rotated', '/ok/rotated', 'ROTATED_TOKEN')).id;
  ids.bot = (
    await ok('POST', '/teams/ml/integrations', {
      kind: 'slack',
      name: 'bot',
      channel: 'alerts',
      botTokenSecret: 'SLACK_BOT',
    })
  ).id;
  ids.incoming = (
    await ok('POST', '/teams/ml/integrations', {
      kind: 'slack',
      name: 'incoming',
      webhookUrlSecret: 'SLACK_HOOK',
    })
  ).id;
  await ok('GET', '/teams/ml/integrations');
  for (const k of ['hook', 'echo', 'bot', 'incoming']) await ok('GET', `/teams/ml/integrations/${ids[k]}`);

  const payload = {
    run: '${run_name}',
    signature_key: '${WH_SIGNING}',
    auth: 'Bearer ${ACCESS_TOKEN}',
    token: '${WH_TOKEN}',
    nested: { list: ['${ACCESS_TOKEN}', 'x ${WH_SIGNING} y'] },
  };
  const scope = { type: 'PROJECT', team: 'ml', project: 'p' };
  const event = { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } };
  for (const k of ['hook', 'echo', 'flaky', 'rotated']) {
    const p = k === 'rotated' ? { auth: '${ACCESS_TOKEN}', t: '${ROTATED_TOKEN}' } : payload;
    ids[`a-${k}`] = (
      await ok('POST', '/automations', {
        name: `to-${k}`,
        scope,
        event,
        rateLimitPerHour: 0,
        action: { type: 'GENERIC_WEBHOOK', integrationId: ids[k], payload: p },
      })
    ).id;
  }
  for (const k of ['bot', 'incoming']) {
    ids[`a-${k}`] = (
      await ok('POST', '/automations', {
        name: `to-${k}`,
        scope,
        event,
        rateLimitPerHour: 0,
        action: { type: 'NOTIFICATION', integrationId: ids[k], title: 'Run failed', severity: 'ERROR' },
      })
    ).id;
  }
  await ok('GET', '/automations?team=ml');
  await ok('GET', `/automations/${ids['a-hook']}`);
  await ok('GET', `/template-variables?team=ml&integrationId=${ids.hook}`);
  await ok('POST', '/automations/preview', {
    scope,
    event,
    action: { type: 'GENERIC_WEBHOOK', integrationId: ids.hook, payload },
  });

  // Errors: an unknown variable, a missing secret, deleting a secret in use.
  await call('POST', '/automations', {
    name: 'bad',
    scope,
    event,
    action: { type: 'GENERIC_WEBHOOK', integrationId: ids.hook, payload: { x: '${NOPE}' } },
  });
  await call('POST', '/teams/ml/integrations', {
    kind: 'webhook',
    name: 'x',
    url: 'http://a/',
    secret: 'MISSING',
  });
  await call('DELETE', '/teams/ml/secrets/WH_SIGNING');
  await call('DELETE', '/teams/ml/secrets/SLACK_HOOK');

  // Test calls, with custom payloads that use the secrets.
  for (const k of ['hook', 'echo', 'flaky', 'bot', 'incoming'])
    await call('POST', `/teams/ml/integrations/${ids[k]}/test`, {});
  await call('POST', `/teams/ml/integrations/${ids.echo}/test`, {
    payload: { t: '${ACCESS_TOKEN}', s: '${WH_SIGNING}' },
  });
  await call('POST', `/teams/ml/integrations/${ids.echo}/test`, { payload: '{"raw":"${WH_TOKEN}"}' });

  // The firing: two failed runs.
  for (const id of ['r1', 'r2']) {
    await ok('POST', '/teams/ml/projects/p/runs', { id, displayName: `run ${id}` });
    await ok('PATCH', `/teams/ml/projects/p/runs/${id}`, { state: 'FAILED' });
  }
});

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
  await slack?.close();
});

describe('secrets never leak', () => {
  it('the flow happened: every target got its messages with the real secrets', async () => {
    for (const k of ['hook', 'echo', 'flaky', 'rotated', 'bot', 'incoming']) {
      const ex = await settled(async (m: string, p: string) => call(m, p), ids[`a-${k}`], 2, 30_000);
      for (const e of ex) {
        expect(e.state, `${k}: ${JSON.stringify(e.result)}`).toBe('FINISHED');
        await ok('GET', `/executions/${e.id}`);
      }
    }
    await ok('GET', '/teams/ml/executions?project=p');
    // Redelivery and its answer.
    const [one] = (await ok('GET', `/automations/${ids['a-echo']}/executions`)).items;
    await ok('POST', `/executions/${one.id}/redeliver`);
    await waitFor(
      'the redelivery',
      async () => (await ok('GET', `/executions/${one.id}`)).state === 'FINISHED',
    );
    await ok('GET', `/automations/${ids['a-echo']}/executions`);
    await ok('GET', '/metrics');

    // The secrets did reach their targets (so the searches below are not vacuous).
    const hookHit = receiver.hitsTo('/ok/hook').at(-1)!;
    expect(hookHit.headers.authorization).toBe(`Bearer ${SECRETS.WH_TOKEN}`);
    expect(hookHit.body).toContain(SECRETS.WH_TOKEN);
    expect(JSON.parse(hookHit.body).signature_key).toBe(SECRETS.WH_SIGNING);
    expect(receiver.hitsTo('/ok/rotated').at(-1)!.headers.authorization).toBe(
      `Bearer ${SECRETS.ROTATED_TOKEN}-v2`,
    );
    expect(receiver.hitsTo(HOOK_PATH).length).toBeGreaterThanOrEqual(2);
    expect(slack.accepted.length).toBeGreaterThanOrEqual(2);
    // The echoing receiver answered with the secrets; the history keeps its answer masked.
    const [echoed] = (await ok('GET', `/automations/${ids['a-echo']}/executions`)).items;
    expect(echoed.result.body).toContain('Bearer ••••••');
    expect(echoed.result.body).toContain('x •••••• y');
    // And the history shows the masked payload.
    const [masked] = (await ok('GET', `/automations/${ids['a-hook']}/executions`)).items;
    expect(masked.action.payload).toEqual({
      run: masked.event.details.runName,
      signature_key: '••••••',
      auth: 'Bearer ••••••',
      token: '••••••',
      nested: { list: ['••••••', 'x •••••• y'] },
    });
  });

  it('no secret value in any API response, log line, history record or database file', async () => {
    await sleep(200); // the last log lines
    const values = [
      ...Object.values(SECRETS),
      `${SECRETS.ROTATED_TOKEN}-v2`,
      `${receiver.url}${HOOK_PATH}`,
      HOOK_PATH,
    ];
    const history: string[] = [];
    for (const k of Object.keys(ids).filter((k) => k.startsWith('a-')))
      history.push(JSON.stringify((await ok('GET', `/automations/${ids[k]}/executions`)).items));
    const dbFiles = readdirSync(server.dataDir)
      .filter((f) => /\.(db|sqlite)(-wal|-shm)?$|^tripline/.test(f))
      .map((f) => ({ name: f, text: readFileSync(join(server.dataDir, f)).toString('latin1') }));
    expect(dbFiles.length).toBeGreaterThan(0);
    const sources: Array<[string, string]> = [
      ['server log', server.output()],
      ...responses.map((r, i) => [`response #${i} ${r.slice(0, 80)}`, r] as [string, string]),
      ...history.map((h, i) => [`history #${i}`, h] as [string, string]),
      ...dbFiles.map((f) => [`database file ${f.name}`, f.text] as [string, string]),
    ];
    expect(server.output().length).toBeGreaterThan(0);
    const leaks: string[] = [];
    for (const [where, text] of sources)
      for (const v of values)
        for (const form of forms(v)) if (text.includes(form)) leaks.push(`${where}: contains ${form}`);
    expect(leaks).toEqual([]);
    console.log(
      `[secret-leak] searched ${responses.length} responses, ${history.length} histories, ` +
        `${server.output().split('\n').length} log lines, ${dbFiles.length} database files for ${values.length} values`,
    );
  });
});
