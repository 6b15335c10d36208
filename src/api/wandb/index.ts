import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { AppError } from '../../model/errors.js';
import type { Ctx } from '../../tracking/context.js';
import { applyFileStream, type WandbRun } from '../../tracking/wandb-runs.js';
import { requireAuth } from '../auth.js';
import { actorOf, type Env } from '../http.js';
import { parseFileStreamBody } from './file-stream.js';
import { executeWandbGraphQL } from './graphql.js';

const UPLOAD_URL_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * W&B client wire protocol (reference §7), so W&B's clients log to Tripline with
 * `WANDB_BASE_URL=<tripline url>` and `WANDB_API_KEY=<tripline API key>`:
 *
 * - `POST /graphql`: Viewer, UpsertBucket, RunUploadUrls (see graphql.ts);
 * - `POST /files/{entity}/{project}/{run}/file_stream`: history, summary, system metrics, exit code;
 * - `PUT /files/{entity}/{project}/{run}/upload?…`: the signed upload URLs RunUploadUrls hands out.
 *   Run files (config.yaml, output.log, media) are accepted and discarded: Tripline keeps metrics,
 *   not files.
 */
export function wandbRoutes(ctx: Ctx) {
  const r = new Hono<Env>();
  const auth = requireAuth(ctx);
  // Upload URLs carry their own signature, as W&B's signed storage URLs do: the key lives as long as
  // the process, which is as long as a client needs them (it asks just before uploading).
  const uploadKey = randomBytes(32);
  const sign = (path: string, file: string, expires: number) =>
    createHmac('sha256', uploadKey).update(`${path}\n${file}\n${expires}`).digest('base64url');

  r.post('/graphql', auth, async (c) => {
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      return c.json({ errors: [{ message: 'the body must be JSON: {"query": …, "variables": …}' }] }, 400);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return c.json({ errors: [{ message: 'the body must be a JSON object' }] }, 400);
    }
    const origin = new URL(c.req.url).origin;
    const { status, result } = await executeWandbGraphQL(body, {
      ctx,
      actor: actorOf(c),
      uploadUrl: (run: WandbRun, file: string) => {
        const path = filesPath(run.project.teamName, run.project.name, run.name);
        const expires = Date.now() + UPLOAD_URL_TTL_MS;
        const q = new URLSearchParams({ file, expires: String(expires), sig: sign(path, file, expires) });
        return `${origin}${path}/upload?${q}`;
      },
    });
    return c.json(result, status);
  });

  r.post('/files/:entity/:project/:run/file_stream', auth, async (c) => {
    const chunk = parseFileStreamBody(await c.req.text());
    const { entity, project, run } = c.req.param();
    await applyFileStream(ctx, actorOf(c), entity, project, run, chunk);
    // W&B's answer; Python's client reads `limits` (rate limits) from it.
    return c.json({ exitcode: null, limits: {} });
  });

  r.put('/files/:entity/:project/:run/upload', async (c) => {
    const { entity, project, run } = c.req.param();
    const file = c.req.query('file') ?? '';
    const expires = Number(c.req.query('expires'));
    const sig = Buffer.from(c.req.query('sig') ?? '');
    const path = filesPath(entity, project, run);
    const want = Buffer.from(sign(path, file, expires));
    if (!file || !Number.isFinite(expires) || sig.length !== want.length || !timingSafeEqual(sig, want)) {
      throw new AppError(403, 'forbidden', 'the upload URL is not valid; ask RunUploadUrls for a new one');
    }
    if (expires < Date.now()) throw new AppError(403, 'forbidden', 'the upload URL has expired');
    await c.req.arrayBuffer();
    return c.body(null, 200);
  });

  return r;
}

const filesPath = (entity: string, project: string, run: string) =>
  `/files/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/${encodeURIComponent(run)}`;
