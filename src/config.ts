import { resolve } from 'node:path';

export interface Config {
  dataDir: string;
  port: number;
  host: string;
  databaseUrl?: string;
  adminApiKey?: string;
  allowPrivateTargets: string[];
  slackApiUrl: string;
  publicUrl: string;
  logLevel: string;
  /** Which stages this process runs: all (default), or only the API, engine or delivery worker. */
  role: 'all' | 'api' | 'engine' | 'worker';
  /** Whole-request deadline for outbound webhooks and Slack (TRIPLINE_WEBHOOK_TIMEOUT_MS, default 10 s). */
  webhookTimeoutMs: number;
  /** How long a claimed delivery is held before another worker may take it (TRIPLINE_DELIVERY_LEASE_MS, default 30 s). */
  deliveryLeaseMs: number;
}

function positiveMs(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v <= 0)
    throw new Error(`${name} must be a positive number of milliseconds (got "${raw}")`);
  return v;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const port = overrides.port ?? Number(env.TRIPLINE_PORT ?? 8240);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`TRIPLINE_PORT must be a port number (got "${env.TRIPLINE_PORT}")`);
  }
  const host = overrides.host ?? env.TRIPLINE_HOST ?? '127.0.0.1';
  const role = (overrides.role ?? env.TRIPLINE_ROLE ?? 'all') as Config['role'];
  if (!['all', 'api', 'engine', 'worker'].includes(role)) {
    throw new Error(`TRIPLINE_ROLE must be all, api, engine or worker (got "${role}")`);
  }
  return {
    dataDir: resolve(overrides.dataDir ?? env.TRIPLINE_DATA_DIR ?? './.tripline'),
    port,
    host,
    databaseUrl: overrides.databaseUrl ?? (env.TRIPLINE_DATABASE_URL || undefined),
    adminApiKey: env.TRIPLINE_ADMIN_API_KEY || undefined,
    allowPrivateTargets: (env.TRIPLINE_ALLOW_PRIVATE_TARGETS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    slackApiUrl: env.TRIPLINE_SLACK_API_URL || 'https://slack.com/api/',
    publicUrl: env.TRIPLINE_PUBLIC_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    logLevel: env.TRIPLINE_LOG_LEVEL ?? 'info',
    role,
    webhookTimeoutMs: positiveMs(env, 'TRIPLINE_WEBHOOK_TIMEOUT_MS', 10_000),
    deliveryLeaseMs: positiveMs(env, 'TRIPLINE_DELIVERY_LEASE_MS', 30_000),
  };
}
