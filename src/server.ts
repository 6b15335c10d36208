import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import pino, { type Logger } from 'pino';
import { createApp } from './api/app.js';
import { automationRoutes } from './api/rest/automations.js';
import { settingsRoutes } from './api/rest/settings.js';
import { wandbRoutes } from './api/wandb/index.js';
import { type BootstrapResult, bootstrapAdmin } from './bootstrap.js';
import type { Config } from './config.js';
import { retryScale } from './delivery/schedule.js';
import { type DeliveryWorker, startDeliveryWorker } from './delivery/worker.js';
import { type Engine, startEngine } from './engine/loop.js';
import { onSignal, signal } from './notify.js';
import { loadMasterKey } from './secrets/crypto.js';
import type { Services } from './services.js';
import { openStore, type Store } from './store/db.js';

export interface RunningServer {
  url: string;
  store: Store;
  logger: Logger;
  bootstrap: BootstrapResult;
  engine?: Engine;
  services: Services;
  close(): Promise<void>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Wires the stages for the configured role and starts listening. */
export async function startServer(
  config: Config,
  logger: Logger = pino({ level: config.logLevel }),
): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const bootstrap = await bootstrapAdmin(store, config);
  const keyring = loadMasterKey({ dataDir: config.dataDir, env: process.env });
  const services: Services = { store, keyring, config };
  const stops: Array<() => Promise<void>> = [];

  let url = '';
  if (config.role === 'all' || config.role === 'api') {
    const app = createApp({
      ctx: store,
      logger,
      webDist: join(root, 'web', 'dist'),
      v1: [automationRoutes, settingsRoutes],
      root: [wandbRoutes],
      services,
    });
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    url = `http://${host}:${addr.port}`;
    // Links in messages use the port actually bound (`--port 0` picks one), unless set explicitly.
    if (!process.env.TRIPLINE_PUBLIC_URL && config.port === 0) config.publicUrl = url;
    stops.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );
  }

  let engine: Engine | undefined;
  if (config.role === 'all' || config.role === 'engine') {
    // Woken by the API's writes in this process (src/notify.ts); other writers are seen by polling.
    engine = startEngine(store, { logger, onDeliveries: () => signal('deliveries') });
    const e = engine;
    const off = onSignal('writes', () => e.wake());
    stops.push(async () => {
      off();
      await e.stop();
    });
  }

  let worker: DeliveryWorker | undefined;
  if (config.role === 'all' || config.role === 'worker') {
    worker = await startDeliveryWorker(store, {
      logger,
      keyring,
      allowPrivate: config.allowPrivateTargets,
      slackApiUrl: config.slackApiUrl,
      publicUrl: config.publicUrl,
      retryScale: retryScale(),
      timeoutMs: config.webhookTimeoutMs,
      leaseMs: config.deliveryLeaseMs,
    });
    const w = worker;
    const off = onSignal('deliveries', () => w.wake());
    stops.push(async () => {
      off();
      await w.stop();
    });
  }

  return {
    url,
    store,
    engine,
    services,
    logger,
    bootstrap,
    async close() {
      for (const stop of stops.reverse()) await stop();
      await store.close();
    },
  };
}
