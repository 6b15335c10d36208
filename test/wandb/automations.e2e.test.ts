import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';
import { logWithSdk } from './sdk.js';

type Api = ReturnType<typeof client>;

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** A local webhook receiver that records what it gets. */
async function receiver() {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A webhook integration to the test's receiver. */
async function webhookIntegration(api: Api, url: string): Promise<string> {
  const res = await api('POST', '/teams/ml/integrations', { kind: 'webhook', name: 'hook', url });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`automations on runs logged by @wandb/sdk on ${dialect}`, () => {
    let server: ServerProcess;
    let api: Api;
    let hook: Awaited<ReturnType<typeof receiver>>;
    beforeAll(async () => {
      hook = await receiver();
      server = await startServerProcess({ dialect, env: { TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' } });
      api = client(server.url, server.apiKey);
      expect((await api('POST', '/teams', { name: 'ml' })).status).toBe(201);
      expect((await api('POST', '/teams/ml/projects', { name: 'mnist' })).status).toBe(201);
    });
    afterAll(async () => {
      await server?.stop();
      await hook?.close();
    });

    it('a webhook on FAILED with ${run_name}, and a RUN_METRIC threshold that fires once', async () => {
      const integrationId = await webhookIntegration(api, hook.url);
      const scope = { type: 'PROJECT', team: 'ml', project: 'mnist' };
      const failed = await api('POST', '/automations', {
        name: 'run-failure-alert',
        scope,
        event: {
          type: 'RUN_STATE',
          filter: { run_filter: { $and: [] }, run_state_filter: { states: ['FAILED'] } },
        },
        action: {
          type: 'GENERIC_WEBHOOK',
          integrationId,
          payload: { kind: 'state', text: '${run_name} is ${run_state}', run: '${run_id}' },
        },
      });
      expect(failed.status, JSON.stringify(failed.body)).toBe(201);
      const threshold = await api('POST', '/automations', {
        name: 'loss-too-high',
        scope,
        event: {
          type: 'RUN_METRIC',
          filter: {
            run_filter: { $and: [] },
            threshold_filter: {
              name: 'loss',
              agg_op: 'AVERAGE',
              window_size: 5,
              cmp_op: '$gt',
              threshold: 5,
            },
          },
        },
        action: {
          type: 'GENERIC_WEBHOOK',
          integrationId,
          payload: { kind: 'metric', run: '${run_name}', metric: '${metric_name}', value: '${metric_value}' },
        },
      });
      expect(threshold.status, JSON.stringify(threshold.body)).toBe(201);

      // A healthy run: loss falls, exit code 0 → neither automation fires.
      const ok = await logWithSdk(server, {
        runId: 'healthy',
        project: 'mnist',
        entity: 'ml',
        name: 'healthy-run',
      });
      expect(ok.code, ok.out).toBe(0);
      // A diverging run: loss rises 1 → 20.9 over 200 steps sent in several file_stream chunks, then finish(1).
      const bad = await logWithSdk(server, {
        runId: 'diverged',
        project: 'mnist',
        entity: 'ml',
        name: 'diverging-run',
        exitCode: 1,
        sleepMs: 25,
      });
      expect(bad.code, bad.out).toBe(0);

      const events = await api('GET', '/teams/ml/events?limit=1000');
      const batches = events.body.items.filter(
        (e: any) => e.type === 'RUN_METRICS_APPENDED' && e.details.runId === 'diverged',
      );
      expect(batches.length).toBeGreaterThan(1);

      await until('both webhooks', () => hook.got.length >= 2);
      // Give the engine time to (wrongly) fire again on later batches before counting.
      await new Promise((r) => setTimeout(r, 2000));
      const bodies = hook.got.map((g) => g.body).sort((a, b) => a.kind.localeCompare(b.kind));
      expect(bodies).toHaveLength(2);
      expect(bodies[0]).toMatchObject({ kind: 'metric', run: 'diverging-run', metric: 'loss' });
      expect(Number(bodies[0].value)).toBeGreaterThan(5);
      expect(bodies[1]).toEqual({ kind: 'state', text: 'diverging-run is FAILED', run: 'diverged' });
      for (const g of hook.got) expect(g.headers['webhook-id']).toBeTruthy();

      const history = await api('GET', `/automations/${threshold.body.id}/executions`);
      expect(history.body.items).toHaveLength(1);
      expect(history.body.items[0]).toMatchObject({ state: 'FINISHED', event: { type: 'RUN_METRIC' } });
    });
  });
}
