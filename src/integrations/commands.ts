import { randomUUID } from 'node:crypto';
import { type AttemptOutcome, maskSecretsInOutcome } from '../actions/outcome.js';
import { deliverSlack } from '../actions/slack/deliver.js';
import { sampleDetails } from '../actions/variables.js';
import { deliverWebhook } from '../actions/webhook/deliver.js';
import { createSafeHttp } from '../delivery/safe-http.js';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../model/errors.js';
import { checkSecretName } from '../secrets/commands.js';
import { resolveSecrets } from '../secrets/vault.js';
import type { Services } from '../services.js';
import type { Actor } from '../tracking/context.js';
import { teamAccess } from '../tracking/teams.js';
import { isUniqueViolation, newId, now, parseJson } from '../tracking/util.js';
import {
  findIntegration,
  type IntegrationRecord,
  integrationSecretNames,
  type SlackConfig,
  toIntegration,
  type WebhookConfig,
} from './queries.js';

export function integrationView(i: IntegrationRecord) {
  return {
    id: i.id,
    kind: i.kind,
    name: i.name,
    ...i.config,
    status: i.status,
    statusReason: i.statusReason,
    consecutiveFailures: i.consecutiveFailures,
    createdAt: i.createdAt,
    updatedAt: i.updatedAt,
  };
}

function str(v: unknown, field: string, max = 256): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > max) {
    throw new ValidationError(`${field} must be a non-empty string of at most ${max} characters`, field);
  }
  return v;
}

function checkUrl(v: unknown, field: string): string {
  const s = str(v, field, 2048);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ValidationError(`${field} is not a valid URL`, field);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ValidationError(`${field} must be http or https`, field);
  if (u.username || u.password)
    throw new ValidationError(`${field} must not carry credentials; use a secret`, field);
  return u.href;
}

async function checkSecretRef(
  s: Services,
  teamId: string,
  v: unknown,
  field: string,
): Promise<string | undefined> {
  if (v === undefined || v === null || v === '') return undefined;
  const name = checkSecretName(v, field);
  const row = await s.store.db
    .selectFrom('secrets')
    .select('id')
    .where('team_id', '=', teamId)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!row) throw new ValidationError(`${field}: the team has no secret "${name}"; create it first`, field);
  return name;
}

async function parseConfig(s: Services, teamId: string, kind: unknown, b: Record<string, unknown>) {
  if (kind === 'webhook') {
    const config: WebhookConfig = { url: checkUrl(b.url, 'url') };
    const token = await checkSecretRef(s, teamId, b.accessTokenSecret, 'accessTokenSecret');
    const secret = await checkSecretRef(s, teamId, b.secret, 'secret');
    if (token) config.accessTokenSecret = token;
    if (secret) config.secret = secret;
    return config;
  }
  if (kind === 'slack') {
    const config: SlackConfig = {};
    if (b.webhookUrlSecret !== undefined && b.webhookUrlSecret !== null && b.webhookUrlSecret !== '') {
      config.webhookUrlSecret = await checkSecretRef(s, teamId, b.webhookUrlSecret, 'webhookUrlSecret');
      if (b.channel) config.channel = str(b.channel, 'channel', 80);
    } else {
      config.channel = str(b.channel, 'channel', 80);
      config.botTokenSecret = await checkSecretRef(s, teamId, b.botTokenSecret, 'botTokenSecret');
      if (!config.botTokenSecret) {
        throw new ValidationError(
          'a Slack integration needs botTokenSecret (with channel) or webhookUrlSecret',
          'botTokenSecret',
        );
      }
    }
    return config;
  }
  throw new ValidationError('kind must be "webhook" or "slack"', 'kind');
}

export async function createIntegration(
  s: Services,
  actor: Actor,
  teamName: string,
  b: Record<string, unknown>,
) {
  const team = await teamAccess(s.store, actor, teamName, 'admin');
  const name = str(b.name, 'name', 128);
  const config = await parseConfig(s, team.id, b.kind, b);
  const at = now();
  const id = newId();
  try {
    await s.store.db
      .insertInto('integrations')
      .values({
        id,
        team_id: team.id,
        kind: b.kind as 'webhook' | 'slack',
        name,
        config: JSON.stringify(config),
        status: 'ok',
        status_reason: null,
        consecutive_failures: 0,
        failing_since: null,
        created_at: at,
        updated_at: at,
      })
      .execute();
  } catch (err) {
    if (isUniqueViolation(err))
      throw new ConflictError(`an integration named "${name}" already exists`, 'name');
    throw err;
  }
  return integrationView((await findIntegration(s.store.db, team.id, id))!);
}

async function load(s: Services, actor: Actor, teamName: string, id: string, need: 'admin' | 'member') {
  const team = await teamAccess(s.store, actor, teamName, need);
  const i = await findIntegration(s.store.db, team.id, id);
  if (!i) throw new NotFoundError(`integration "${id}" not found in team "${team.name}"`);
  return { team, i };
}

export async function listIntegrations(s: Services, actor: Actor, teamName: string) {
  const team = await teamAccess(s.store, actor, teamName);
  const rows = await s.store.db
    .selectFrom('integrations')
    .selectAll()
    .where('team_id', '=', team.id)
    .orderBy('name')
    .execute();
  return { items: rows.map((r) => integrationView(toIntegration(r))), nextCursor: null };
}

export async function getIntegration(s: Services, actor: Actor, teamName: string, id: string) {
  return integrationView((await load(s, actor, teamName, id, 'member')).i);
}

/** PATCH: name and settings; `{"status":"ok"}` resumes a paused or failing integration. */
export async function updateIntegration(
  s: Services,
  actor: Actor,
  teamName: string,
  id: string,
  b: Record<string, unknown>,
) {
  const { team, i } = await load(s, actor, teamName, id, 'admin');
  if (b.kind !== undefined && b.kind !== i.kind)
    throw new ValidationError('kind cannot change; create a new integration', 'kind');
  const merged = { ...i.config, ...b };
  const config = await parseConfig(s, team.id, i.kind, merged);
  const name = b.name === undefined ? i.name : str(b.name, 'name', 128);
  const values: Record<string, unknown> = { name, config: JSON.stringify(config), updated_at: now() };
  if (b.status !== undefined) {
    if (b.status !== 'ok') throw new ValidationError('status can only be set to "ok" (resume)', 'status');
    Object.assign(values, {
      status: 'ok',
      status_reason: null,
      consecutive_failures: 0,
      failing_since: null,
    });
  }
  try {
    await s.store.db.updateTable('integrations').set(values).where('id', '=', id).execute();
  } catch (err) {
    if (isUniqueViolation(err))
      throw new ConflictError(`an integration named "${name}" already exists`, 'name');
    throw err;
  }
  return integrationView((await findIntegration(s.store.db, team.id, id))!);
}

export async function deleteIntegration(
  s: Services,
  actor: Actor,
  teamName: string,
  id: string,
  force: boolean,
) {
  const { i } = await load(s, actor, teamName, id, 'admin');
  const users = await s.store.db
    .selectFrom('automations')
    .select(['id', 'name'])
    .where('integration_id', '=', id)
    .execute();
  if (users.length > 0 && !force) {
    const err = new AppError(
      409,
      'integration_in_use',
      `integration "${i.name}" is used by ${users.map((u) => `automation "${u.name}"`).join(', ')}; delete those first or pass ?force=true`,
    ) as AppError & { details?: unknown };
    err.details = { usedBy: users.map((u) => ({ kind: 'automation', ...u })) };
    throw err;
  }
  await s.store.db.transaction().execute(async (trx) => {
    if (users.length > 0)
      await trx
        .updateTable('automations')
        .set({ enabled: 0, updated_at: now() })
        .where('integration_id', '=', id)
        .execute();
    await trx.deleteFrom('integrations').where('id', '=', id).execute();
  });
  return { id, deleted: true };
}

/**
 * Sends a payload (or a sample event) through the integration right now, with its real secrets and
 * signatures, and returns what the receiver answered. Nothing is recorded in the history.
 */
export async function testIntegration(
  s: Services,
  actor: Actor,
  teamName: string,
  id: string,
  b: Record<string, unknown>,
) {
  const { team, i } = await load(s, actor, teamName, id, 'admin');
  const secrets = await resolveSecrets(s.store.db, s.keyring, team.id, integrationSecretNames(i));
  const payload =
    b.payload === undefined
      ? undefined
      : typeof b.payload === 'string'
        ? parseJson(b.payload, b.payload)
        : b.payload;
  const job = {
    executionId: `test-${randomUUID()}`,
    teamId: team.id,
    eventType: 'RUN_STATE',
    details: sampleDetails('RUN_STATE', team.name, 'sample-project'),
    template:
      i.kind === 'webhook'
        ? {
            payload: payload ?? {
              event_type: '${event_type}',
              run_name: '${run_name}',
              run_state: '${run_state}',
              test: true,
            },
          }
        : {
            title: 'Tripline test message',
            message: typeof b.payload === 'string' ? b.payload : undefined,
            severity: 'INFO',
          },
  };
  const timeoutMs = s.config.webhookTimeoutMs;
  const http = createSafeHttp({ allowPrivate: s.config.allowPrivateTargets, timeoutMs });
  let o: AttemptOutcome;
  try {
    o =
      i.kind === 'webhook'
        ? await deliverWebhook(job, i, secrets, http)
        : await deliverSlack(job, i, secrets, {
            http,
            apiUrl: s.config.slackApiUrl,
            publicUrl: s.config.publicUrl,
            timeoutMs,
          });
  } finally {
    await http.close();
  }
  o = maskSecretsInOutcome(o, secrets);
  return {
    ok: o.ok,
    ...(o.status !== undefined ? { status: o.status } : {}),
    ...(o.body !== undefined ? { body: o.body } : {}),
    ...(o.error ? { error: o.error } : {}),
    durationMs: o.durationMs,
  };
}
