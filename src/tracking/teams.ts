import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../model/errors.js';
import { checkName } from '../model/names.js';
import type { Actor, Ctx } from './context.js';
import { getUserByName } from './users.js';
import { isUniqueViolation, newId, now } from './util.js';

export interface TeamAccess {
  id: string;
  name: string;
  role: 'admin' | 'member';
}

/**
 * Resolves a team the actor belongs to. Non-members get 404 (they may not learn it exists);
 * members without the needed role get 403.
 */
export async function teamAccess(
  ctx: Ctx,
  actor: Actor,
  teamName: string,
  need: 'member' | 'admin' = 'member',
) {
  const row = await ctx.db
    .selectFrom('teams')
    .innerJoin('team_members', 'team_members.team_id', 'teams.id')
    .select(['teams.id', 'teams.name', 'team_members.role'])
    .where('teams.name', '=', teamName)
    .where('team_members.user_id', '=', actor.id)
    .executeTakeFirst();
  if (!row) throw new NotFoundError(`team "${teamName}" not found`);
  if (need === 'admin' && row.role !== 'admin') {
    throw new ForbiddenError(`only admins of team "${teamName}" can do this`);
  }
  return row as TeamAccess;
}

export async function createTeam(ctx: Ctx, actor: Actor, name: unknown) {
  const teamName = checkName(name, 'name');
  const at = now();
  const team = { id: newId(), name: teamName, created_at: at };
  try {
    await ctx.db.transaction().execute(async (trx) => {
      await trx.insertInto('teams').values(team).execute();
      await trx
        .insertInto('team_members')
        .values({ team_id: team.id, user_id: actor.id, role: 'admin', created_at: at })
        .execute();
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`team "${teamName}" already exists`, 'name');
    throw err;
  }
  return { name: teamName, role: 'admin' as const, createdAt: at };
}

export async function listTeamsOf(ctx: Ctx, actor: Actor) {
  return ctx.db
    .selectFrom('teams')
    .innerJoin('team_members', 'team_members.team_id', 'teams.id')
    .select(['teams.name', 'team_members.role'])
    .where('team_members.user_id', '=', actor.id)
    .orderBy('teams.name')
    .execute();
}

export async function getTeam(ctx: Ctx, actor: Actor, teamName: string) {
  const team = await teamAccess(ctx, actor, teamName);
  const members = await ctx.db
    .selectFrom('team_members')
    .innerJoin('users', 'users.id', 'team_members.user_id')
    .select(['users.username', 'team_members.role'])
    .where('team_members.team_id', '=', team.id)
    .orderBy('users.username')
    .execute();
  return { name: team.name, role: team.role, members };
}

export async function setMember(ctx: Ctx, actor: Actor, teamName: string, username: string, role: unknown) {
  const team = await teamAccess(ctx, actor, teamName, 'admin');
  if (role !== 'admin' && role !== 'member')
    throw new ValidationError('role must be "admin" or "member"', 'role');
  const user = await getUserByName(ctx, username);
  await ctx.db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('team_members')
      .select('role')
      .where('team_id', '=', team.id)
      .where('user_id', '=', user.id)
      .executeTakeFirst();
    if (existing) {
      if (existing.role === 'admin' && role === 'member') {
        const admins = await trx
          .selectFrom('team_members')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('team_id', '=', team.id)
          .where('role', '=', 'admin')
          .executeTakeFirstOrThrow();
        if (Number(admins.n) <= 1) throw new ConflictError('a team needs at least one admin', 'role');
      }
      await trx
        .updateTable('team_members')
        .set({ role })
        .where('team_id', '=', team.id)
        .where('user_id', '=', user.id)
        .execute();
    } else {
      await trx
        .insertInto('team_members')
        .values({ team_id: team.id, user_id: user.id, role, created_at: now() })
        .execute();
    }
  });
  return { team: team.name, username: user.username, role };
}
