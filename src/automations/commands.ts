import { ConflictError, NotFoundError, ValidationError } from '../model/errors.js';
import type { AutomationEventType } from '../model/events.js';
import type { DB } from '../store/schema.js';
import type { Actor, Ctx } from '../tracking/context.js';
import { getProject } from '../tracking/projects.js';
import { teamAccess } from '../tracking/teams.js';
import { isUniqueViolation, newId, now, parseJson } from '../tracking/util.js';
import {
  type AutomationDefinition,
  parseDefinition,
  type ScopeInput,
  type StoredFilter,
} from './definition.js';

type Row = DB['automations'] & { scope_name: string | null; scope_kind: string | null; team_name: string };

export interface AutomationView {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  scope: ScopeInput;
  event: { type: AutomationEventType; filter: Record<string, unknown> };
  action: Record<string, unknown>;
  rateLimitPerHour: number;
  cooldownSeconds: number;
  createdAt: string;
  updatedAt: string;
  lastExecutionAt: string | null;
  suppressedCount: number;
  lastSuppressedAt: string | null;
}

function publicFilter(f: StoredFilter): Record<string, unknown> {
  if ('artifact' in f) return f.artifact as Record<string, unknown>;
  return { ...f };
}

function toView(r: Row): AutomationView {
  const scope: ScopeInput = { type: r.scope_type, team: r.team_name };
  if (r.scope_kind === 'project') scope.project = r.scope_name!;
  if (r.scope_kind === 'registry') scope.registry = r.scope_name!;
  if (r.scope_collection) scope.collection = r.scope_collection;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    enabled: r.enabled === 1,
    scope,
    event: { type: r.event_type as AutomationEventType, filter: publicFilter(parseJson(r.event_filter, {})) },
    action: parseJson(r.action, {}),
    rateLimitPerHour: r.rate_limit_per_hour,
    cooldownSeconds: r.cooldown_seconds,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastExecutionAt: r.last_execution_at,
    suppressedCount: r.suppressed_count,
    lastSuppressedAt: r.last_suppressed_at,
  };
}

function baseQuery(ctx: Ctx) {
  return ctx.db
    .selectFrom('automations as a')
    .innerJoin('teams as t', 't.id', 'a.team_id')
    .leftJoin('projects as p', 'p.id', 'a.scope_project_id')
    .selectAll('a')
    .select(['t.name as team_name', 'p.name as scope_name', 'p.kind as scope_kind']);
}

/** Resolves the scope to ids; only team admins manage automations. */
async function resolveScope(ctx: Ctx, actor: Actor, scope: ScopeInput, need: 'admin' | 'member') {
  const team = await teamAccess(ctx, actor, scope.team, need);
  let projectId: string | null = null;
  if (scope.project) projectId = (await getProject(ctx, actor, scope.team, scope.project, 'project')).id;
  if (scope.registry) projectId = (await getProject(ctx, actor, scope.team, scope.registry, 'registry')).id;
  return { teamId: team.id, projectId, collection: scope.collection ?? null };
}

async function currentPosition(ctx: Ctx): Promise<number> {
  const r = await ctx.db
    .selectFrom('events')
    .select((eb) => eb.fn.max('position').as('m'))
    .executeTakeFirst();
  return Number(r?.m ?? 0);
}

function rowValues(
  def: AutomationDefinition,
  ids: { teamId: string; projectId: string | null; collection: string | null },
) {
  return {
    team_id: ids.teamId,
    name: def.name,
    description: def.description,
    enabled: def.enabled ? 1 : 0,
    scope_type: def.scope.type,
    scope_project_id: ids.projectId,
    scope_collection: ids.collection,
    event_type: def.eventType,
    event_filter: JSON.stringify(def.filter),
    action_type: def.action.type,
    action: JSON.stringify(def.action),
    integration_id: def.action.integrationId ?? null,
    rate_limit_per_hour: def.rateLimitPerHour,
    cooldown_seconds: def.cooldownSeconds,
  };
}

export async function createAutomation(ctx: Ctx, actor: Actor, body: Record<string, unknown>) {
  let ids!: Awaited<ReturnType<typeof resolveScope>>;
  const def = await parseDefinition(ctx.db, body, async (scope) => {
    ids = await resolveScope(ctx, actor, scope, 'admin');
    return ids.teamId;
  });
  const at = now();
  const id = newId();
  try {
    await ctx.db
      .insertInto('automations')
      .values({
        id,
        ...rowValues(def, ids),
        // It watches events from now on: never those already in the log.
        from_position: await currentPosition(ctx),
        created_by: actor.id,
        created_at: at,
        updated_at: at,
        last_execution_at: null,
        suppressed_count: 0,
        last_suppressed_at: null,
      })
      .execute();
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ConflictError(
        `an automation named "${def.name}" already exists in team "${def.scope.team}"`,
        'name',
      );
    }
    throw err;
  }
  return getAutomation(ctx, actor, id);
}

async function loadRow(ctx: Ctx, actor: Actor, id: string, need: 'admin' | 'member') {
  const row = await baseQuery(ctx).where('a.id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`automation "${id}" not found`);
  try {
    await teamAccess(ctx, actor, row.team_name, need);
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError(`automation "${id}" not found`);
    throw err;
  }
  return row as Row;
}

export async function getAutomation(ctx: Ctx, actor: Actor, id: string) {
  return toView(await loadRow(ctx, actor, id, 'member'));
}

export async function listAutomations(
  ctx: Ctx,
  actor: Actor,
  q: { team?: string; project?: string; registry?: string; cursor?: string; limit: number },
) {
  if (!q.team) throw new ValidationError('team is required, e.g. ?team=ml', 'team');
  const team = await teamAccess(ctx, actor, q.team);
  let query = baseQuery(ctx)
    .where('a.team_id', '=', team.id)
    .orderBy('a.name')
    .limit(q.limit + 1);
  if (q.project) {
    const p = await getProject(ctx, actor, q.team, q.project, 'project');
    query = query.where('a.scope_project_id', '=', p.id);
  }
  if (q.registry) {
    const r = await getProject(ctx, actor, q.team, q.registry, 'registry');
    query = query.where('a.scope_project_id', '=', r.id);
  }
  if (q.cursor) query = query.where('a.name', '>', q.cursor);
  const rows = (await query.execute()) as Row[];
  const more = rows.length > q.limit;
  const items = rows.slice(0, q.limit).map(toView);
  return { items, nextCursor: more ? items[items.length - 1].name : null };
}

/** PATCH: any subset of the body; the merged result is validated as a whole. */
export async function updateAutomation(ctx: Ctx, actor: Actor, id: string, patch: Record<string, unknown>) {
  const row = await loadRow(ctx, actor, id, 'admin');
  const current = toView(row);
  const merged: Record<string, unknown> = {
    name: current.name,
    description: current.description,
    enabled: current.enabled,
    scope: current.scope,
    event: current.event,
    action: current.action,
    rateLimitPerHour: current.rateLimitPerHour,
    cooldownSeconds: current.cooldownSeconds,
    ...patch,
  };
  let ids!: Awaited<ReturnType<typeof resolveScope>>;
  const def = await parseDefinition(ctx.db, merged, async (scope) => {
    ids = await resolveScope(ctx, actor, scope, 'admin');
    return ids.teamId;
  });
  if (ids.teamId !== row.team_id)
    throw new ValidationError('an automation cannot move to another team', 'scope.team');
  const values: Partial<DB['automations']> = { ...rowValues(def, ids), updated_at: now() };
  // Re-enabled: it watches from now on, not the backlog of events it slept through.
  if (def.enabled && row.enabled === 0) values.from_position = await currentPosition(ctx);
  try {
    await ctx.db.updateTable('automations').set(values).where('id', '=', id).execute();
  } catch (err) {
    if (isUniqueViolation(err))
      throw new ConflictError(`an automation named "${def.name}" already exists`, 'name');
    throw err;
  }
  return getAutomation(ctx, actor, id);
}

export async function deleteAutomation(ctx: Ctx, actor: Actor, id: string) {
  await loadRow(ctx, actor, id, 'admin');
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('automation_run_fired').where('automation_id', '=', id).execute();
    await trx.deleteFrom('automations').where('id', '=', id).execute();
  });
  return { id, deleted: true };
}
