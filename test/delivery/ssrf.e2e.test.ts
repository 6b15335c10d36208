import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess } from '../helpers/server.js';
import { apiOf, type Receiver, settled, startReceiver } from './lib.js';

/**
 * SSRF through the product: webhook integrations pointing at loopback, private, link-local and
 * metadata addresses (in every spelling the URL parser accepts) are refused when they send — in
 * the `/test` answer and in the execution history, at once and without retrying — unless the
 * operator allow-lists them; metadata addresses stay refused even when everything is allowed.
 * Redirects are never followed.
 */

const sink = { receiver: undefined as Receiver | undefined };
const port = () => sink.receiver!.port;

/** [label, URL, what the refusal must say] */
const REFUSED: Array<[string, () => string, RegExp]> = [
  ['127.0.0.1', () => `http://127.0.0.1:${port()}/ok/a`, /127\.0\.0\.1 is a loopback address/],
  ['[::1]', () => `http://[::1]:${port()}/ok/a`, /::1 is a loopback address/],
  [
    '[::ffff:127.0.0.1]',
    () => `http://[::ffff:127.0.0.1]:${port()}/ok/a`,
    /::ffff:7f00:1 \(127\.0\.0\.1\) is a loopback address/,
  ],
  ['169.254.169.254', () => 'http://169.254.169.254/latest/meta-data/', /cloud metadata address/],
  ['10.0.0.1', () => 'http://10.0.0.1/hook', /10\.0\.0\.1 is a private \(RFC 1918\) address/],
  ['decimal 2130706433', () => `http://2130706433:${port()}/ok/a`, /127\.0\.0\.1 is a loopback address/],
  ['hex 0x7f000001', () => `http://0x7f000001:${port()}/ok/a`, /127\.0\.0\.1 is a loopback address/],
  ['short hex 0x7f.1', () => `http://0x7f.1:${port()}/ok/a`, /127\.0\.0\.1 is a loopback address/],
  ['decimal metadata 2852039166', () => 'http://2852039166/', /cloud metadata address/],
  ['localhost', () => `http://localhost:${port()}/ok/a`, /localhost resolves to .* loopback address/],
  ['metadata.google.internal', () => 'http://metadata.google.internal/', /cloud metadata host/],
];

async function setup(env: Record<string, string>) {
  const server = await startServerProcess({ env: { TRIPLINE_RETRY_SCALE: '0.001', ...env } });
  const { api, ok } = apiOf(server.url, server.apiKey);
  await ok('POST', '/teams', { name: 'ml' });
  await ok('POST', '/teams/ml/projects', { name: 'p' });
  let runs = 0;
  return {
    server,
    api,
    ok,
    async integration(name: string, url: string) {
      return (await ok('POST', '/teams/ml/integrations', { kind: 'webhook', name, url })).id as string;
    },
    async automation(name: string, integrationId: string) {
      return (
        await ok('POST', '/automations', {
          name,
          scope: { type: 'PROJECT', team: 'ml', project: 'p' },
          event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
          rateLimitPerHour: 0,
          action: { type: 'GENERIC_WEBHOOK', integrationId, payload: { run: '${run_name}' } },
        })
      ).id as string;
    },
    /** One RUN_STATE FAILED event: every automation above fires once. */
    async failRun() {
      const id = `r${++runs}`;
      await ok('POST', '/teams/ml/projects/p/runs', { id });
      await ok('PATCH', `/teams/ml/projects/p/runs/${id}`, { state: 'FAILED' });
    },
  };
}

beforeAll(async () => {
  sink.receiver = await startReceiver();
});
afterAll(async () => {
  await sink.receiver?.close();
});

const durations: number[] = [];

describe('SSRF: nothing private is reachable by default', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  const integrations = new Map<string, string>();
  const automations = new Map<string, string>();
  beforeAll(async () => {
    s = await setup({});
    for (const [label, url] of REFUSED) {
      const id = await s.integration(label, url());
      integrations.set(label, id);
      automations.set(label, await s.automation(`to ${label}`, id));
    }
    await s.failRun();
  });
  afterAll(async () => {
    await s?.server.stop();
  });

  it.each(REFUSED)('%s: the test call is refused with the reason', async (label, _url, reason) => {
    const r = await s.api('POST', `/teams/ml/integrations/${integrations.get(label)}/test`, {});
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.status).toBeUndefined();
    expect(r.body.error).toMatch(/^refused: /);
    expect(r.body.error).toMatch(reason);
  });

  it.each(REFUSED)(
    '%s: the execution FAILS at once with the reason in the history',
    async (label, _url, reason) => {
      const [ex] = await settled(s.api, automations.get(label)!, 1);
      expect(ex.state).toBe('FAILED');
      expect(ex.result.error).toMatch(reason);
      expect(ex.result.status).toBeUndefined();
      // Not retried: a refusal is final.
      expect(ex.attempts).toHaveLength(1);
      expect(ex.attempts[0].error).toMatch(reason);
      // A refusal is a failed attempt of that integration: it counts towards its health, however
      // fast it was (a refusal takes ~0 ms).
      const i = await s.ok('GET', `/teams/ml/integrations/${integrations.get(label)}`);
      expect(i.consecutiveFailures).toBe(1);
      durations.push(ex.attempts[0].durationMs);
    },
  );

  it('nothing reached the local receiver', () => {
    console.log(`[ssrf] refusal durations (ms): ${durations.join(', ')}`);
    expect(sink.receiver!.hits).toHaveLength(0);
  });
});

describe('SSRF: TRIPLINE_ALLOW_PRIVATE_TARGETS=127.0.0.1/32 opens exactly that', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    s = await setup({ TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' });
  });
  afterAll(async () => {
    await s?.server.stop();
  });

  it.each([
    ['127.0.0.1', `/ok/allowed-literal`, (p: string) => `http://127.0.0.1:${port()}${p}`],
    ['decimal', `/ok/allowed-decimal`, (p: string) => `http://2130706433:${port()}${p}`],
    [
      'localhost (its ::1 address is dropped, 127.0.0.1 used)',
      `/ok/allowed-localhost`,
      (p: string) => `http://localhost:${port()}${p}`,
    ],
  ])('%s is reached', async (_label, path, url) => {
    const id = await s.integration(path, url(path));
    const r = await s.ok('POST', `/teams/ml/integrations/${id}/test`, {});
    expect(r).toMatchObject({ ok: true, status: 200, body: '{"received":true}' });
    expect(sink.receiver!.hitsTo(path)).toHaveLength(1);
  });

  it.each([
    ['[::1]', `http://[::1]:8/x`, /::1 is a loopback address/],
    ['10.0.0.1', 'http://10.0.0.1/x', /10\.0\.0\.1 is a private/],
    ['169.254.169.254', 'http://169.254.169.254/x', /cloud metadata address/],
  ])('%s stays refused', async (label, url, reason) => {
    const id = await s.integration(`still ${label}`, url);
    const r = await s.ok('POST', `/teams/ml/integrations/${id}/test`, {});
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(reason);
  });

  it('a 302 to loopback is not followed: the test call and the execution say so, and fail at once', async () => {
    const id = await s.integration('redirector', `http://127.0.0.1:${port()}/redirect/x`);
    const t = await s.ok('POST', `/teams/ml/integrations/${id}/test`, {});
    expect(t).toMatchObject({ ok: false, status: 302, error: 'redirect (302) not followed' });
    const a = await s.automation('to redirector', id);
    await s.failRun();
    const [ex] = await settled(s.api, a, 1);
    expect(ex.state).toBe('FAILED');
    expect(ex.result).toMatchObject({ status: 302, error: 'redirect (302) not followed' });
    expect(ex.attempts).toHaveLength(1);
    expect(sink.receiver!.hitsTo('/redirect/x')).toHaveLength(2);
    expect(sink.receiver!.hitsTo('/ok/redirected')).toHaveLength(0);
  });
});

describe('SSRF: metadata stays refused even with 0.0.0.0/0 and ::/0 allowed', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    s = await setup({ TRIPLINE_ALLOW_PRIVATE_TARGETS: '0.0.0.0/0,::/0' });
  });
  afterAll(async () => {
    await s?.server.stop();
  });

  it.each([
    ['169.254.169.254', 'http://169.254.169.254/latest/meta-data/'],
    ['decimal 2852039166', 'http://2852039166/'],
    ['IPv4-mapped [::ffff:169.254.169.254]', 'http://[::ffff:169.254.169.254]/'],
    ['ECS 169.254.170.2', 'http://169.254.170.2/v2/credentials'],
    ['AWS IPv6 [fd00:ec2::254]', 'http://[fd00:ec2::254]/'],
    ['metadata.google.internal', 'http://metadata.google.internal/computeMetadata/v1/'],
  ])('%s: refused in the test call and in the history', async (label, url) => {
    const id = await s.integration(label, url);
    const t = await s.ok('POST', `/teams/ml/integrations/${id}/test`, {});
    expect(t.ok).toBe(false);
    expect(t.error).toMatch(/cloud metadata (address|host), which is always refused/);
    const a = await s.automation(`to ${label}`, id);
    await s.failRun();
    const [ex] = await settled(s.api, a, 1);
    expect(ex.state).toBe('FAILED');
    expect(ex.result.error).toMatch(/always refused/);
    expect(ex.attempts).toHaveLength(1);
  });

  it('while loopback is now reachable', async () => {
    const id = await s.integration('open loopback', `http://127.0.0.1:${port()}/ok/open`);
    const t = await s.ok('POST', `/teams/ml/integrations/${id}/test`, {});
    expect(t).toMatchObject({ ok: true, status: 200 });
  });
});
