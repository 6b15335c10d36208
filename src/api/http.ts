import type { Context } from 'hono';
import { ValidationError } from '../model/errors.js';
import type { Actor } from '../tracking/context.js';

export type Env = { Variables: { actor: Actor } };

/** Parses a JSON object body; malformed JSON or a non-object is a 400 that names the problem. */
export async function readJson(c: Context): Promise<Record<string, unknown>> {
  // Lenient about Content-Type (curl -d sends form-encoded): the body itself must be JSON.
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

export function page(c: Context): { cursor?: string; limit: number } {
  const raw = c.req.query('limit');
  let limit = 100;
  if (raw !== undefined) {
    limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ValidationError('limit must be an integer from 1 to 1000', 'limit');
    }
  }
  return { cursor: c.req.query('cursor') || undefined, limit };
}

export const actorOf = (c: Context<Env>): Actor => c.get('actor');
