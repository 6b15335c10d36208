import type { MiddlewareHandler } from 'hono';
import { AppError } from '../model/errors.js';
import type { Ctx } from '../tracking/context.js';
import { findUserByApiKey } from '../tracking/users.js';
import type { Env } from './http.js';

/** The API key from `Bearer <key>` or W&B's `Basic base64("api:<key>")`. */
export function apiKeyFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (!value) return undefined;
  if (/^bearer$/i.test(scheme)) return value.trim();
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 ? decoded.slice(i + 1) : undefined;
  }
  return undefined;
}

// A short-lived cache keeps key hashing and lookup off the hot ingest path.
const CACHE_MS = 30_000;

export function requireAuth(ctx: Ctx): MiddlewareHandler<Env> {
  const cache = new Map<string, { actor: { id: string; username: string }; until: number }>();
  return async (c, next) => {
    const key = apiKeyFrom(c.req.header('authorization'));
    if (!key) {
      throw new AppError(401, 'unauthenticated', 'send an API key: "Authorization: Bearer <key>"');
    }
    const hit = cache.get(key);
    let actor = hit && hit.until > Date.now() ? hit.actor : undefined;
    if (!actor) {
      actor = await findUserByApiKey(ctx, key);
      if (!actor) throw new AppError(401, 'unauthenticated', 'the API key is not valid');
      if (cache.size > 1000) cache.clear();
      cache.set(key, { actor, until: Date.now() + CACHE_MS });
    }
    c.set('actor', actor);
    await next();
  };
}
