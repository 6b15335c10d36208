import { Hono } from 'hono';
import type { Ctx } from '../../tracking/context.js';
import type { Env } from '../http.js';

/** W&B client wire protocol (reference §7): POST /graphql and the file_stream. */
export function wandbRoutes(_ctx: Ctx) {
  const r = new Hono<Env>();
  return r;
}
