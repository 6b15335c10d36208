#!/usr/bin/env node
/**
 * `npm run demo`: a fresh Tripline with a team, project, registry, a local webhook receiver, three
 * automations, and simulated runs and an alias move — the History tab fills within seconds.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pc from 'picocolors';
import pino from 'pino';
import { generateApiKey } from '../bootstrap.js';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';

const say = (s: string) => process.stdout.write(`${s}\n`);
const step = (s: string) => say(`${pc.cyan('›')} ${s}`);

async function main() {
  const dataDir = process.env.TRIPLINE_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'tripline-demo-'));
  const apiKey = process.env.TRIPLINE_ADMIN_API_KEY ?? generateApiKey();

  // The built-in receiver: stands in for your CI system or deployment hook.
  const received: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      received.push(body);
      say(`${pc.green('⇢ webhook received')} ${pc.dim(req.headers['webhook-id'] as string)} ${body}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"received":true}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/tripline`;

  process.env.TRIPLINE_ADMIN_API_KEY = apiKey;
  const allow = process.env.TRIPLINE_ALLOW_PRIVATE_TARGETS;
  process.env.TRIPLINE_ALLOW_PRIVATE_TARGETS = allow ? `${allow},127.0.0.1/32` : '127.0.0.1/32';
  const config = loadConfig(process.env, { dataDir, databaseUrl: undefined });
  const server = await startServer(config, pino({ level: 'warn' }));
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  };

  say(`\n${pc.bold('Tripline demo')} — data in ${dataDir}\n`);
  step('team "ml", project "mnist", registry "models"');
  await api('POST', '/teams', { name: 'ml' });
  await api('POST', '/teams/ml/projects', { name: 'mnist' });
  await api('POST', '/teams/ml/registries', { name: 'models' });

  step(`secret WEBHOOK_SECRET and a webhook integration to the built-in receiver (${receiverUrl})`);
  await api('PUT', '/teams/ml/secrets/WEBHOOK_SECRET', { value: generateApiKey() });
  const hook = await api('POST', '/teams/ml/integrations', {
    kind: 'webhook',
    name: 'demo-receiver',
    url: receiverUrl,
    secret: 'WEBHOOK_SECRET',
  });

  step('automations: run failed, loss above 2.0, production alias in the registry');
  const webhook = (payload: unknown) => ({ type: 'GENERIC_WEBHOOK', integrationId: hook.id, payload });
  await api('POST', '/automations', {
    name: 'run-failed',
    description: 'Tell CI when a training run fails',
    scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
    event: { type: 'RUN_STATE', filter: { run_state_filter: { states: ['FAILED'] } } },
    action: webhook({ text: 'Run ${run_name} (${run_id}) is ${run_state}', project: '${project_name}' }),
  });
  await api('POST', '/automations', {
    name: 'loss-spike',
    description: 'Loss above 2.0 (max of the last 3 steps)',
    scope: { type: 'PROJECT', team: 'ml', project: 'mnist' },
    event: {
      type: 'RUN_METRIC',
      filter: {
        threshold_filter: { name: 'loss', agg_op: 'MAX', window_size: 3, cmp_op: '$gt', threshold: 2 },
      },
    },
    action: webhook({
      text: '${metric_name} reached ${metric_value} in ${run_name}',
      value: '${metric_value}',
    }),
  });
  await api('POST', '/automations', {
    name: 'deploy-production',
    description: 'Deploy when the production alias lands on a model',
    scope: { type: 'REGISTRY', team: 'ml', registry: 'models' },
    event: {
      type: 'ADD_ARTIFACT_ALIAS',
      filter: { $or: [{ $and: [{ alias: { $regex: '^production$' } }] }] },
    },
    action: webhook({
      deploy: '${artifact_version_string}',
      by: '${event_author}',
      accuracy: '${artifact_metadata.accuracy}',
    }),
  });

  step('run "baseline": 50 steps, loss going down, FINISHED');
  await api('POST', '/teams/ml/projects/mnist/runs', {
    id: 'baseline',
    displayName: 'baseline',
    config: { lr: 0.01 },
  });
  const rows = (f: (i: number) => number, n: number) =>
    Array.from({ length: n }, (_, i) => ({ _step: i, loss: f(i), acc: Math.min(0.99, 0.5 + i / 100) }));
  await api('POST', '/teams/ml/projects/mnist/runs/baseline/history', {
    rows: rows((i) => 1.5 * Math.exp(-i / 20), 50),
  });
  await api('POST', '/teams/ml/projects/mnist/runs/baseline/system', {
    rows: Array.from({ length: 20 }, (_, i) => ({
      'system/cpu': 40 + 20 * Math.sin(i / 3),
      'system/memory': 30 + i,
    })),
  });
  await api('PATCH', '/teams/ml/projects/mnist/runs/baseline', { state: 'FINISHED' });

  step('run "lr-too-high": loss spikes at step 30, then the run FAILS');
  await api('POST', '/teams/ml/projects/mnist/runs', {
    id: 'lr-too-high',
    displayName: 'lr-too-high',
    config: { lr: 1 },
  });
  await api('POST', '/teams/ml/projects/mnist/runs/lr-too-high/history', {
    rows: rows((i) => (i < 30 ? 1.4 - i / 50 : 0.8 + (i - 29) ** 2 / 10), 45),
  });
  await api('PATCH', '/teams/ml/projects/mnist/runs/lr-too-high', { state: 'FAILED' });

  step('model versions v0, v1; link both into the registry, production on v0, then move production to v1');
  await api('POST', '/teams/ml/projects/mnist/artifacts', {
    collection: 'mnist-cnn',
    type: 'model',
    metadata: { accuracy: 0.91 },
  });
  await api('POST', '/teams/ml/projects/mnist/artifacts', {
    collection: 'mnist-cnn',
    type: 'model',
    metadata: { accuracy: 0.95 },
    tags: ['candidate'],
  });
  await api('POST', '/teams/ml/registries/models/collections/mnist-classifier/links', {
    source: 'ml/mnist/mnist-cnn:v0',
    aliases: ['production'],
  });
  await api('POST', '/teams/ml/registries/models/collections/mnist-classifier/links', {
    source: 'ml/mnist/mnist-cnn:v1',
  });
  await new Promise((r) => setTimeout(r, 300));
  await api('POST', '/teams/ml/registries/models/collections/mnist-classifier/v1/aliases', {
    alias: 'production',
  });

  const deadline = Date.now() + 15_000;
  while (received.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const history = await api('GET', '/teams/ml/executions');
  say(`\n${pc.bold(`${history.items.length} executions in History`)}:`);
  for (const e of history.items) say(`  ${e.state.padEnd(9)} ${e.automationName.padEnd(18)} ${e.event.type}`);
  say(`\n  Web UI:  ${pc.cyan(`${server.url}/teams/ml/projects/mnist`)}`);
  say(`  API key: ${pc.green(apiKey)}  (paste it on the sign-in page)`);
  say(`\n  Try: move the alias again, or log a run with the CLI (npx tsx src/cli/index.ts --help).`);
  say(`  ${pc.dim('Ctrl-C to stop.')}\n`);

  const stop = async () => {
    receiver.close();
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (process.env.TRIPLINE_DEMO_EXIT) await stop();
}

main().catch((err) => {
  process.stderr.write(`${pc.red('demo failed:')} ${err.message}\n`);
  process.exit(1);
});
