import { AppError, NotFoundError, ValidationError } from '../model/errors.js';
import type { Services } from '../services.js';
import type { Actor } from '../tracking/context.js';
import { teamAccess } from '../tracking/teams.js';
import { newId, now, parseJson } from '../tracking/util.js';
import { secretContext } from './vault.js';

const SECRET_NAME = /^[A-Za-z0-9_]{1,128}$/;
const MAX_SECRET_BYTES = 64 * 1024;

export function checkSecretName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
    throw new ValidationError(`${field} must be 1-128 letters, digits or '_' (e.g. SLACK_TOKEN)`, field);
  }
  return name;
}

export interface SecretUser {
  kind: 'integration' | 'automation';
  id: string;
  name: string;
}

/** Integrations that reference a secret by name, and automations whose payload uses `${NAME}`. */
export async function secretUsers(s: Services, teamId: string, name: string): Promise<SecretUser[]> {
  const out: SecretUser[] = [];
  const integrations = await s.store.db
    .selectFrom('integrations')
    .select(['id', 'name', 'config'])
    .where('team_id', '=', teamId)
    .execute();
  for (const i of integrations) {
    if (
      Object.values(parseJson<Record<string, unknown>>(i.config, {})).includes(name) &&
      !isUrl(i.config, name)
    ) {
      out.push({ kind: 'integration', id: i.id, name: i.name });
    }
  }
  const automations = await s.store.db
    .selectFrom('automations')
    .select(['id', 'name', 'action'])
    .where('team_id', '=', teamId)
    .execute();
  for (const a of automations)
    if (a.action.includes(`\${${name}}`)) out.push({ kind: 'automation', id: a.id, name: a.name });
  return out;
}

// A webhook URL equal to a secret's name is a coincidence, not a reference.
const isUrl = (config: string, name: string) => parseJson<Record<string, unknown>>(config, {}).url === name;

/** Creates or rotates a secret. The value is encrypted at once and never returned. */
export async function putSecret(
  s: Services,
  actor: Actor,
  teamName: string,
  rawName: string,
  value: unknown,
) {
  const team = await teamAccess(s.store, actor, teamName, 'admin');
  const name = checkSecretName(rawName);
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError('value must be a non-empty string', 'value');
  }
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) {
    throw new ValidationError(`value must be at most ${MAX_SECRET_BYTES} bytes`, 'value');
  }
  const ciphertext = s.keyring.encrypt(value, secretContext(team.id, name));
  const at = now();
  await s.store.db
    .insertInto('secrets')
    .values({ id: newId(), team_id: team.id, name, ciphertext, created_at: at, updated_at: at })
    .onConflict((oc) => oc.columns(['team_id', 'name']).doUpdateSet({ ciphertext, updated_at: at }))
    .execute();
  const row = await s.store.db
    .selectFrom('secrets')
    .select(['name', 'created_at', 'updated_at'])
    .where('team_id', '=', team.id)
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
  return { name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
}

export async function listSecrets(s: Services, actor: Actor, teamName: string) {
  const team = await teamAccess(s.store, actor, teamName);
  const rows = await s.store.db
    .selectFrom('secrets')
    .select(['name', 'created_at', 'updated_at'])
    .where('team_id', '=', team.id)
    .orderBy('name')
    .execute();
  const items = [];
  for (const r of rows) {
    items.push({
      name: r.name,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      usedBy: await secretUsers(s, team.id, r.name),
    });
  }
  return { items, nextCursor: null };
}

/** Deleting a secret in use is refused with the names of its users, unless forced. */
export async function deleteSecret(
  s: Services,
  actor: Actor,
  teamName: string,
  name: string,
  force: boolean,
) {
  const team = await teamAccess(s.store, actor, teamName, 'admin');
  const exists = await s.store.db
    .selectFrom('secrets')
    .select('id')
    .where('team_id', '=', team.id)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!exists) throw new NotFoundError(`secret "${name}" not found in team "${team.name}"`);
  const users = await secretUsers(s, team.id, name);
  if (users.length > 0 && !force) {
    const err = new AppError(
      409,
      'secret_in_use',
      `secret "${name}" is used by ${users.map((u) => `${u.kind} "${u.name}"`).join(', ')}; delete with ?force=true to remove it anyway`,
      'name',
    ) as AppError & { details?: unknown };
    err.details = { usedBy: users };
    throw err;
  }
  await s.store.db.deleteFrom('secrets').where('id', '=', exists.id).execute();
  return { name, deleted: true, usedBy: users };
}
