import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.js';
import { parseJson } from '../tracking/util.js';

/** Stored integration settings; secret fields hold team secret NAMES, never values. */
export interface WebhookConfig {
  url: string;
  accessTokenSecret?: string;
  secret?: string;
}
export interface SlackConfig {
  channel?: string;
  botTokenSecret?: string;
  webhookUrlSecret?: string;
}

export interface IntegrationRecord {
  id: string;
  teamId: string;
  kind: 'webhook' | 'slack';
  name: string;
  config: WebhookConfig & SlackConfig;
  status: 'ok' | 'failing' | 'paused';
  statusReason: string | null;
  consecutiveFailures: number;
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toIntegration(r: DB['integrations']): IntegrationRecord {
  return {
    id: r.id,
    teamId: r.team_id,
    kind: r.kind,
    name: r.name,
    config: parseJson(r.config, { url: '' }),
    status: r.status,
    statusReason: r.status_reason,
    consecutiveFailures: r.consecutive_failures,
    failingSince: r.failing_since,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function findIntegration(db: Kysely<DB>, teamId: string, id: string) {
  const row = await db
    .selectFrom('integrations')
    .selectAll()
    .where('team_id', '=', teamId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toIntegration(row) : undefined;
}

/** The secret names an integration may use in templates: `${NAME}` (ACCESS_TOKEN is separate). */
export function integrationSecretNames(i: IntegrationRecord): string[] {
  const c = i.config;
  return [c.accessTokenSecret, c.secret, c.botTokenSecret, c.webhookUrlSecret].filter(
    (x): x is string => !!x,
  );
}
