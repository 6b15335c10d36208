import type { Kysely } from 'kysely';
import { NotFoundError, ValidationError } from '../model/errors.js';
import type { DB } from '../store/schema.js';
import type { Actor, Ctx } from '../tracking/context.js';
import { getProject } from '../tracking/projects.js';
import { decodeCursor, encodeCursor } from '../tracking/runs.js';
import { teamAccess } from '../tracking/teams.js';
import { newId, now, parseJson } from '../tracking/util.js';
import { getAutomation } from './commands.js';

export interface ExecutionView {
  id: string;
  automationId: string;
  automationName: string;
  triggeredAt: string;
  state: 'PENDING' | 'FINISHED' | 'FAILED';
  event: { type: string; details: Record<string, unknown> };
  action: { type: string; target: string | null; integrationId?: string | null; payload?: unknown };
  result: { status?: number; body?: string; error?: string };
  attempts: Array<{ at: string; status?: number; error?: string; durationMs: number }>;
}

async function toViews(db: Kysely<DB>, rows: DB['executions'][]): Promise<ExecutionView[]> {
  const ids = rows.map((r) => r.id);
  const attempts = ids.length
    ? await db
        .selectFrom('delivery_attempts')
        .selectAll()
        .where('execution_id', 'in', ids)
        .orderBy('at')
        .execute()
    : [];
  return rows.map((r) => {
    const { template: _template, ...action } = parseJson<ExecutionView['action'] & { template?: unknown }>(
      r.action,
      {
        type: 'NO_OP',
        target: null,
      },
    );
    if (r.payload_masked !== null) action.payload = parseJson(r.payload_masked, r.payload_masked);
    return {
      id: r.id,
      automationId: r.automation_id,
      automationName: r.automation_name,
      triggeredAt: r.triggered_at,
      state: r.state,
      event: parseJson(r.event, { type: '', details: {} }),
      action,
      result: parseJson(r.result, {}),
      attempts: attempts
        .filter((a) => a.execution_id === r.id)
        .map((a) => ({
          at: a.at,
          ...(a.status === null ? {} : { status: a.status }),
          ...(a.error === null ? {} : { error: a.error }),
          ...(a.response_excerpt === null ? {} : { responseExcerpt: a.response_excerpt }),
          durationMs: a.duration_ms,
        })),
    };
  });
}

type Filter = { automationId?: string; teamId?: string; projectId?: string; collection?: string };

async function listExecutions(ctx: Ctx, f: Filter, page: { cursor?: string; limit: number }) {
  let q = ctx.db
    .selectFrom('executions')
    .selectAll()
    .orderBy('triggered_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit + 1);
  if (f.automationId) q = q.where('automation_id', '=', f.automationId);
  if (f.teamId) q = q.where('team_id', '=', f.teamId);
  if (f.projectId) q = q.where('project_id', '=', f.projectId);
  if (f.collection) q = q.where('collection_name', '=', f.collection);
  if (page.cursor) {
    const [at, id] = decodeCursor(page.cursor);
    q = q.where((eb) =>
      eb.or([eb('triggered_at', '<', at), eb.and([eb('triggered_at', '=', at), eb('id', '<', id)])]),
    );
  }
  const rows = await q.execute();
  const more = rows.length > page.limit;
  const slice = rows.slice(0, page.limit);
  const last = slice[slice.length - 1];
  return {
    items: await toViews(ctx.db, slice),
    nextCursor: more ? encodeCursor(last.triggered_at, last.id) : null,
  };
}

export async function automationExecutions(
  ctx: Ctx,
  actor: Actor,
  id: string,
  page: { cursor?: string; limit: number },
) {
  await getAutomation(ctx, actor, id);
  return listExecutions(ctx, { automationId: id }, page);
}

export async function teamExecutions(
  ctx: Ctx,
  actor: Actor,
  team: string,
  q: { project?: string; registry?: string; collection?: string },
  page: { cursor?: string; limit: number },
) {
  const t = await teamAccess(ctx, actor, team);
  const f: Filter = { teamId: t.id, collection: q.collection };
  if (q.project) f.projectId = (await getProject(ctx, actor, team, q.project, 'project')).id;
  if (q.registry) f.projectId = (await getProject(ctx, actor, team, q.registry, 'registry')).id;
  return listExecutions(ctx, f, page);
}

async function loadExecution(ctx: Ctx, actor: Actor, id: string, need: 'member' | 'admin') {
  const row = await ctx.db.selectFrom('executions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`execution "${id}" not found`);
  const team = await ctx.db
    .selectFrom('teams')
    .select('name')
    .where('id', '=', row.team_id)
    .executeTakeFirstOrThrow();
  try {
    await teamAccess(ctx, actor, team.name, need);
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError(`execution "${id}" not found`);
    throw err;
  }
  return row;
}

export async function getExecution(ctx: Ctx, actor: Actor, id: string) {
  const [view] = await toViews(ctx.db, [await loadExecution(ctx, actor, id, 'member')]);
  return view;
}

/** Sends an execution's action again as a new attempt (same webhook-id); admins only. */
export async function redeliver(ctx: Ctx, actor: Actor, id: string) {
  const row = await loadExecution(ctx, actor, id, 'admin');
  const action = parseJson<{ type: string; integrationId?: string | null }>(row.action, { type: 'NO_OP' });
  if (action.type === 'NO_OP') {
    throw new ValidationError('a NO_OP execution has nothing to deliver', 'id');
  }
  const at = now();
  await ctx.db.transaction().execute(async (trx) => {
    // One live delivery per execution: a pending one is simply made due now.
    const live = await trx
      .selectFrom('deliveries')
      .select('id')
      .where('execution_id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (live) {
      await trx
        .updateTable('deliveries')
        .set({ run_at: at, updated_at: at })
        .where('id', '=', live.id)
        .execute();
    } else {
      await trx
        .insertInto('deliveries')
        .values({
          id: newId(),
          execution_id: id,
          integration_id: action.integrationId ?? null,
          status: 'pending',
          attempts: 0,
          run_at: at,
          lease_owner: null,
          lease_until: null,
          last_error: null,
          created_at: at,
          updated_at: at,
        })
        .execute();
    }
    await trx
      .updateTable('executions')
      .set({ state: 'PENDING', updated_at: at })
      .where('id', '=', id)
      .execute();
  });
  return getExecution(ctx, actor, id);
}
