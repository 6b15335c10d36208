import { ConflictError, NotFoundError } from '../model/errors.js';
import { checkName } from '../model/names.js';
import type { Actor, Ctx } from './context.js';
import { teamAccess } from './teams.js';
import { isUniqueViolation, newId, now } from './util.js';

export type ProjectKind = 'project' | 'registry';

export interface ProjectRef {
  id: string;
  name: string;
  kind: ProjectKind;
  teamId: string;
  teamName: string;
  role: 'admin' | 'member';
}

const label = (kind: ProjectKind) => (kind === 'project' ? 'project' : 'registry');

export async function createProject(
  ctx: Ctx,
  actor: Actor,
  teamName: string,
  name: unknown,
  kind: ProjectKind,
) {
  const team = await teamAccess(ctx, actor, teamName);
  const projectName = checkName(name, 'name');
  const row = { id: newId(), team_id: team.id, kind, name: projectName, created_at: now() };
  try {
    await ctx.db.insertInto('projects').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ConflictError(
        `${label(kind)} "${projectName}" already exists in team "${team.name}"`,
        'name',
      );
    }
    throw err;
  }
  return { name: projectName, createdAt: row.created_at };
}

export async function getProject(
  ctx: Ctx,
  actor: Actor,
  teamName: string,
  name: string,
  kind: ProjectKind,
): Promise<ProjectRef> {
  const team = await teamAccess(ctx, actor, teamName);
  const row = await ctx.db
    .selectFrom('projects')
    .select(['id', 'name', 'kind'])
    .where('team_id', '=', team.id)
    .where('kind', '=', kind)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!row) throw new NotFoundError(`${label(kind)} "${name}" not found in team "${team.name}"`);
  return { id: row.id, name: row.name, kind, teamId: team.id, teamName: team.name, role: team.role };
}

/**
 * How long getProjectForAppend may reuse a lookup. Membership is checked at most this long ago:
 * a user removed from a team (or a project removed) can go on appending metrics to it for up to
 * this long, and no longer.
 */
export const PROJECT_CACHE_MS = 5_000;
const projectCaches = new WeakMap<Ctx['db'], Map<string, { ref: ProjectRef; until: number }>>();

/**
 * getProject for the metric-append hot path only (a client posts a batch every few milliseconds):
 * a successful lookup is reused for PROJECT_CACHE_MS per (user, team, project). Failures are not
 * cached. Anything that needs the caller's current role must use getProject.
 */
export async function getProjectForAppend(
  ctx: Ctx,
  actor: Actor,
  teamName: string,
  name: string,
): Promise<ProjectRef> {
  let cache = projectCaches.get(ctx.db);
  if (!cache) {
    cache = new Map();
    projectCaches.set(ctx.db, cache);
  }
  const key = `${actor.id}\0${teamName}\0${name}`;
  const hit = cache.get(key);
  const t = Date.now();
  if (hit && hit.until > t) return hit.ref;
  const ref = await getProject(ctx, actor, teamName, name, 'project');
  if (cache.size >= 10_000) cache.clear();
  cache.set(key, { ref, until: t + PROJECT_CACHE_MS });
  return ref;
}

/** W&B creates a project on first use (UpsertBucket); so do we. */
export async function getOrCreateProject(ctx: Ctx, actor: Actor, teamName: string, name: string) {
  try {
    return await getProject(ctx, actor, teamName, name, 'project');
  } catch (err) {
    if (!(err instanceof NotFoundError) || !err.message.startsWith('project')) throw err;
    try {
      await createProject(ctx, actor, teamName, name, 'project');
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
    return getProject(ctx, actor, teamName, name, 'project');
  }
}

export async function listProjects(
  ctx: Ctx,
  actor: Actor,
  teamName: string,
  kind: ProjectKind,
  page: { cursor?: string; limit: number },
) {
  const team = await teamAccess(ctx, actor, teamName);
  let q = ctx.db
    .selectFrom('projects')
    .select(['name', 'created_at'])
    .where('team_id', '=', team.id)
    .where('kind', '=', kind)
    .orderBy('name')
    .limit(page.limit + 1);
  if (page.cursor) q = q.where('name', '>', page.cursor);
  const rows = await q.execute();
  const more = rows.length > page.limit;
  const items = rows.slice(0, page.limit).map((r) => ({ name: r.name, createdAt: r.created_at }));
  return { items, nextCursor: more ? items[items.length - 1].name : null };
}
