import { ValidationError } from '../model/errors.js';
import type { LogEvent } from '../model/events.js';
import type { Actor, Ctx } from './context.js';
import { teamAccess } from './teams.js';
import { parseJson } from './util.js';

export function toLogEvent(r: {
  position: number;
  type: string;
  team_id: string;
  project_id: string | null;
  collection_name: string | null;
  run_id: string | null;
  actor_id: string | null;
  details: string;
  created_at: string;
}): LogEvent {
  return {
    position: Number(r.position),
    type: r.type as LogEvent['type'],
    teamId: r.team_id,
    projectId: r.project_id,
    collection: r.collection_name,
    runId: r.run_id,
    actorId: r.actor_id,
    details: parseJson(r.details, { team: '' }),
    createdAt: r.created_at,
  };
}

/** A team's events in log order after a cursor position: an audit trail and a resumable feed. */
export async function listTeamEvents(
  ctx: Ctx,
  actor: Actor,
  teamName: string,
  after: string | undefined,
  limit: number,
) {
  const team = await teamAccess(ctx, actor, teamName);
  const from = after === undefined ? 0 : Number(after);
  if (!Number.isInteger(from) || from < 0)
    throw new ValidationError('after must be a non-negative integer', 'after');
  const rows = await ctx.db
    .selectFrom('events')
    .selectAll()
    .where('team_id', '=', team.id)
    .where('position', '>', from)
    .orderBy('position')
    .limit(limit)
    .execute();
  const items = rows.map((r) => {
    const e = toLogEvent(r);
    return { position: e.position, type: e.type, details: e.details, createdAt: e.createdAt };
  });
  return { items, nextCursor: items.length === limit ? String(items[items.length - 1].position) : null };
}
