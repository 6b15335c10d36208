import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETRY_DELAYS_S } from '../../src/delivery/schedule.js';
import { type ServerProcess, startServerProcess } from '../helpers/server.js';
import { apiOf, type Receiver, settled, startReceiver, waitFor } from './lib.js';

/**
 * Receivers that fail: 500s, hangs (past TRIPLINE_WEBHOOK_TIMEOUT_MS), connection resets and 429
 * with Retry-After. Deliveries retry on the (scaled) schedule and finish when the receiver recovers;
 * every attempt is in the history with its status or error and duration; after the last attempt
 * the execution is FAILED with the reason; a 404 fails at once; redelivery sends again with the
 * same webhook-id; an integration that keeps failing is flagged `failing`, then `paused`.
 *
 * TRIPLINE_RETRY_SCALE=0.0001 turns the 23.7 h schedule into about 8 s (5 s → 0.5 ms … 12 h → 4.3 s).
 */

const SCALE = 0.0001;
const TIMEOUT_MS = 300;

/** [scenario (also the project name), receiver path] */
const SCENARIOS = {
  flaky500: '/fail/3/500/flaky500',
  hang: '/hang/2/hang',
  reset: '/reset/2/reset',
  ratelimited: '/fail/1/429/ratelimited?ra=1',
  down: '/status/503/down',
  notfound: '/status/404/notfound',
  once404: '/fail/1/404/once404',
  health: '/status/500/health',
} as const;
type Scenario = keyof typeof SCENARIOS;

let server: ServerProcess;
let receiver: Receiver;
let api: ReturnType<typeof apiOf>['api'];
let ok: ReturnType<typeof apiOf>['ok'];
const automation = {} as Record<Scenario, string>;
const integration = {} as Record<Scenario, string>;
const pathOf = (s: Scenario) => SCENARIOS[s].split('?')[0];

async function failRun(project: string, id: string) {
  await ok('POST', `/teams/ml/projects/${project}/runs`, { id });
  await ok('PATCH', `/teams/ml/projects/${project}/runs/${id}`, { state: 'FAILED' });
}

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startServerProcess({
    env: {
      TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
      TRIPLINE_RETRY_SCALE: String(SCALE),
      TRIPLINE_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    },
  });
  ({ api, ok } = apiOf(server.url, server.apiKey));
  await ok('POST', '/teams', { name: 'ml' });
  for (const [name, path] of Object.entries(SCENARIOS) as Array<[Scenario, string]>) {
    await ok('POST', '/teams/ml/projects', { name });
    integration[name] = (
      await ok('POST', '/teams/ml/integrations', { kind: 'webhook', name, url: `${receiver.url}${path}` })
    ).id;
    automation[name] = (
      await ok('POST', '/automations', {
        name,
        scope: { type: 'PROJECT', team: 'ml', project: name },
        event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
        rateLimitPerHour: 0,
        action: { type: 'GENERIC_WEBHOOK', integrationId: integration[name], payload: { run: '${run_id}' } },
      })
    ).id;
  }
  // One failing run per scenario; the health scenario gets three (30 attempts if nothing pauses).
  for (const name of Object.keys(SCENARIOS) as Scenario[]) await failRun(name, `${name}-1`);
  await failRun('health', 'health-2');
  await failRun('health', 'health-3');
  // The health scenario moves fast at this scale: watch its integration from now on.
  void (async () => {
    while (healthSeen.at(-1)?.status !== 'paused' && !server.proc.killed) {
      const r = await api('GET', `/teams/ml/integrations/${integration.health}`);
      if (r.status !== 200) break;
      if (r.body.status !== healthSeen.at(-1)?.status) healthSeen.push(r.body);
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
});

/** Each status the health scenario's integration was seen in, in order. */
const healthSeen: any[] = [];

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
});

describe('delivery faults (real server, scaled retry schedule)', () => {
  it('500, 500, 500 then 200: retried and FINISHED; each attempt recorded', async () => {
    const [ex] = await settled(api, automation.flaky500, 1);
    expect(ex.state).toBe('FINISHED');
    expect(ex.attempts.map((a: any) => a.status)).toEqual([500, 500, 500, 200]);
    expect(ex.attempts.map((a: any) => a.error ?? null)).toEqual(['HTTP 500', 'HTTP 500', 'HTTP 500', null]);
    for (const a of ex.attempts) {
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
      expect(Date.parse(a.at)).not.toBeNaN();
    }
    expect(ex.result).toMatchObject({ status: 200, body: '{"received":true}' });
    expect(ex.result.error).toBeUndefined();
    expect(receiver.hitsTo(pathOf('flaky500'))).toHaveLength(4);
  });

  it(`a receiver that hangs past ${TIMEOUT_MS} ms: timeouts retried, then FINISHED`, async () => {
    const [ex] = await settled(api, automation.hang, 1);
    expect(ex.state).toBe('FINISHED');
    expect(ex.attempts).toHaveLength(3);
    for (const a of ex.attempts.slice(0, 2)) {
      expect(a.status).toBeUndefined();
      expect(a.error).toMatch(
        new RegExp(`^timeout: no complete response from 127\\.0\\.0\\.1:\\d+ within ${TIMEOUT_MS} ms`),
      );
      expect(a.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
      expect(a.durationMs).toBeLessThan(TIMEOUT_MS + 1000);
    }
    expect(ex.attempts[2].status).toBe(200);
  });

  it('connection resets: retried, then FINISHED', async () => {
    const [ex] = await settled(api, automation.reset, 1);
    expect(ex.state).toBe('FINISHED');
    expect(ex.attempts).toHaveLength(3);
    for (const a of ex.attempts.slice(0, 2))
      expect(a.error).toMatch(/^connection failed: .*closed the connection/);
    expect(ex.attempts[2].status).toBe(200);
  });

  it('429 with Retry-After: 1 is honoured unscaled, then FINISHED', async () => {
    const [ex] = await settled(api, automation.ratelimited, 1);
    expect(ex.state).toBe('FINISHED');
    expect(ex.attempts.map((a: any) => a.status)).toEqual([429, 200]);
    const hits = receiver.hitsTo(pathOf('ratelimited'));
    expect(hits).toHaveLength(2);
    // The scaled schedule alone would retry after 0.5 ms.
    expect(hits[1].at - hits[0].at).toBeGreaterThanOrEqual(950);
  });

  it('a receiver down for good: 10 attempts on the schedule, then FAILED with the reason', async () => {
    const [ex] = await settled(api, automation.down, 1, 30_000);
    expect(ex.state).toBe('FAILED');
    expect(ex.attempts).toHaveLength(10);
    for (const a of ex.attempts) expect(a).toMatchObject({ status: 503, error: 'HTTP 503' });
    expect(ex.result).toMatchObject({ status: 503, error: 'gave up after 10 attempts: HTTP 503' });
    // The last gaps are long enough to check against the schedule (±20 % jitter, plus slack).
    const hits = receiver.hitsTo(pathOf('down'));
    expect(hits).toHaveLength(10);
    for (const i of [6, 7, 8]) {
      const gap = hits[i + 1].at - hits[i].at;
      const base = RETRY_DELAYS_S[i] * 1000 * SCALE;
      expect(gap).toBeGreaterThanOrEqual(base * 0.8 - 5);
      expect(gap).toBeLessThanOrEqual(base * 1.2 + 250);
    }
    // No more attempts after giving up.
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.hitsTo(pathOf('down'))).toHaveLength(10);
  });

  it('404 fails at once: one attempt, FAILED with the status', async () => {
    const [ex] = await settled(api, automation.notfound, 1);
    expect(ex.state).toBe('FAILED');
    expect(ex.attempts).toHaveLength(1);
    expect(ex.result).toMatchObject({ status: 404, error: 'HTTP 404' });
    expect(receiver.hitsTo(pathOf('notfound'))).toHaveLength(1);
  });

  it('redeliver after a failure sends again with the same webhook-id and FINISHES', async () => {
    const [failed] = await settled(api, automation.once404, 1);
    expect(failed.state).toBe('FAILED');
    const r = await ok('POST', `/executions/${failed.id}/redeliver`);
    expect(r.state).toBe('PENDING');
    const [ex] = await waitFor('the redelivery to finish', async () => {
      const e = await settled(api, automation.once404, 1);
      return e[0].state === 'FINISHED' ? e : undefined;
    });
    expect(ex.attempts.map((a: any) => a.status)).toEqual([404, 200]);
    const hits = receiver.hitsTo(pathOf('once404'));
    expect(hits).toHaveLength(2);
    expect(hits[0].headers['webhook-id']).toBe(failed.id);
    expect(hits[1].headers['webhook-id']).toBe(failed.id);
    expect(hits[1].body).toBe(hits[0].body);
  });

  it('an integration failing persistently is flagged failing, then paused; resume + redeliver recovers', async () => {
    const view = async () => (await ok('GET', `/teams/ml/integrations/${integration.health}`)) as any;
    const paused = await waitFor(
      'paused',
      async () => {
        const v = await view();
        return v.status === 'paused' ? v : undefined;
      },
      30_000,
    );
    await waitFor('the watcher to see the pause', () => healthSeen.at(-1)?.status === 'paused');
    expect(healthSeen.map((v) => v.status).filter((st) => st !== 'ok')).toEqual(['failing', 'paused']);
    const flagged = healthSeen.find((v) => v.status === 'failing');
    expect(flagged.consecutiveFailures).toBeGreaterThanOrEqual(5);
    expect(flagged.consecutiveFailures).toBeLessThan(20);
    expect(flagged.statusReason).toMatch(/^\d+ failed attempts in a row; last: HTTP 500$/);
    expect(paused.consecutiveFailures).toBeGreaterThanOrEqual(20);
    expect(paused.statusReason).toMatch(
      /^paused after \d+ failed attempts in a row since .*; last: HTTP 500/,
    );
    // The list shows it too.
    const list = await ok('GET', '/teams/ml/integrations');
    expect(list.items.find((i: any) => i.id === integration.health)).toMatchObject({ status: 'paused' });
    // What was still pending fails at once with the pause reason instead of retrying for a day.
    const ex = await settled(api, automation.health, 3, 30_000);
    expect(ex.every((e: any) => e.state === 'FAILED')).toBe(true);
    const total = ex.reduce((n: number, e: any) => n + e.attempts.length, 0);
    expect(total).toBeLessThan(30);
    expect(ex.some((e: any) => /is paused/.test(e.result.error))).toBe(true);
    const sent = receiver.hitsTo(pathOf('health')).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.hitsTo(pathOf('health'))).toHaveLength(sent);

    // Fix the target, resume, redeliver: delivered.
    await ok('PATCH', `/teams/ml/integrations/${integration.health}`, {
      url: `${receiver.url}/ok/health-fixed`,
      status: 'ok',
    });
    expect((await view()).status).toBe('ok');
    for (const e of ex) await ok('POST', `/executions/${e.id}/redeliver`);
    const done = await waitFor('redeliveries', async () => {
      const all = await settled(api, automation.health, 3);
      return all.every((e: any) => e.state === 'FINISHED') ? all : undefined;
    });
    expect(done).toHaveLength(3);
    expect(receiver.hitsTo('/ok/health-fixed')).toHaveLength(3);
    expect((await view()).consecutiveFailures).toBe(0);
  });
});
