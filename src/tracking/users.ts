import { createHash, randomBytes } from 'node:crypto';
import { ConflictError, NotFoundError } from '../model/errors.js';
import { checkName } from '../model/names.js';
import type { Actor, Ctx } from './context.js';
import { isUniqueViolation, newId, now } from './util.js';

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** 40 hex characters: the shape W&B's clients expect of an API key. */
export const generateApiKey = (): string => randomBytes(20).toString('hex');

/**
 * Creates a user with a personal team of the same name (W&B's default entity) and an API key.
 * The key is returned once; only its hash is stored.
 */
export async function createUser(ctx: Ctx, username: unknown, apiKey = generateApiKey()) {
  const name = checkName(username, 'username');
  const at = now();
  const user = { id: newId(), username: name, created_at: at };
  try {
    await ctx.db.transaction().execute(async (trx) => {
      await trx.insertInto('users').values(user).execute();
      await trx
        .insertInto('api_keys')
        .values({
          id: newId(),
          user_id: user.id,
          key_hash: hashApiKey(apiKey),
          prefix: apiKey.slice(0, 6),
          created_at: at,
          last_used_at: null,
        })
        .execute();
      const team = { id: newId(), name, created_at: at };
      await trx.insertInto('teams').values(team).execute();
      await trx
        .insertInto('team_members')
        .values({ team_id: team.id, user_id: user.id, role: 'admin', created_at: at })
        .execute();
    });
  } catch (err) {
    if (isUniqueViolation(err))
      throw new ConflictError(`a user or team named "${name}" already exists`, 'username');
    throw err;
  }
  return { user: { id: user.id, username: name }, apiKey };
}

export async function findUserByApiKey(ctx: Ctx, key: string): Promise<Actor | undefined> {
  const row = await ctx.db
    .selectFrom('api_keys')
    .innerJoin('users', 'users.id', 'api_keys.user_id')
    .select(['users.id', 'users.username'])
    .where('api_keys.key_hash', '=', hashApiKey(key))
    .executeTakeFirst();
  return row;
}

export async function getUserByName(ctx: Ctx, username: string): Promise<Actor> {
  const row = await ctx.db
    .selectFrom('users')
    .select(['id', 'username'])
    .where('username', '=', username)
    .executeTakeFirst();
  if (!row) throw new NotFoundError(`user "${username}" not found`);
  return row;
}

export async function countUsers(ctx: Ctx): Promise<number> {
  const r = await ctx.db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The instance admin is the first user, `admin`: it may create users. */
export const isInstanceAdmin = (actor: Actor): boolean => actor.username === 'admin';
