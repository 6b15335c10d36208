import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { register } from 'prom-client';
import { AppError } from '../model/errors.js';
import { signal } from '../notify.js';
import type { Services } from '../services.js';
import type { Ctx } from '../tracking/context.js';
import { requireAuth } from './auth.js';
import { bodyLimit, type Env } from './http.js';
import { openApiDocument } from './openapi.js';
import { trackingRoutes } from './rest/tracking.js';

export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface AppOptions {
  ctx: Ctx;
  logger: Logger;
  webDist?: string;
  /** Extra route groups mounted under /api/v1 (automations, secrets, …) and at the root (W&B wire). */
  v1?: Array<(ctx: Ctx, services: Services) => Hono<Env>>;
  root?: Array<(ctx: Ctx, services: Services) => Hono<any>>;
  services?: Services;
}

export function createApp(opts: AppOptions) {
  const { ctx, logger } = opts;
  const app = new Hono<Env>();

  app.onError((err, c) => {
    if (err instanceof AppError) {
      const error: Record<string, unknown> = { code: err.code, message: err.message };
      if (err.field) error.field = err.field;
      const extra = (err as AppError & { details?: unknown }).details;
      if (extra) error.details = extra;
      return c.json({ error }, err.status);
    }
    logger.error({ err, path: c.req.path, method: c.req.method }, 'request failed');
    return c.json({ error: { code: 'internal', message: 'internal error; see the server log' } }, 500);
  });
  app.notFound((c) =>
    c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  );

  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json(
          { error: { code: 'payload_too_large', message: `body exceeds ${MAX_BODY_BYTES} bytes` } },
          413,
        ),
    }),
  );

  // A finished write may have committed an event: wake the engine now rather than at its next poll.
  app.use('*', async (c, next) => {
    await next();
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.res.status < 400) signal('writes');
  });

  app.get('/healthz', async (c) => {
    await ctx.db.selectFrom('users').select('id').limit(1).execute();
    return c.json({ ok: true, database: ctx.dialect });
  });
  app.get('/metrics', async (c) =>
    c.text(await register.metrics(), 200, { 'content-type': register.contentType }),
  );

  const v1 = new Hono<Env>();
  v1.use('*', requireAuth(ctx));
  v1.route('/', trackingRoutes(ctx));
  for (const group of opts.v1 ?? []) v1.route('/', group(ctx, opts.services!));
  app.route('/api/v1', v1);
  for (const group of opts.root ?? []) app.route('/', group(ctx, opts.services!));
  app.get('/api/openapi.json', (c) => c.json(openApiDocument(app.routes)));
  app.all('/api/*', (c) =>
    c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  );

  const dist = opts.webDist;
  if (dist && existsSync(join(dist, 'index.html'))) {
    const index = readFileSync(join(dist, 'index.html'), 'utf8');
    app.use('/assets/*', serveStatic({ root: dist }));
    app.get('*', serveStatic({ root: dist }));
    // SPA fallback: deep links load the app, which routes on the client.
    app.get('*', (c) => c.html(index));
  } else {
    app.get('/', (c) =>
      c.text('Tripline API is running. The web UI is not built: run `npm run build` (npm start does it).'),
    );
  }
  return app;
}
