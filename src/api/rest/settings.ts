import { Hono } from 'hono';
import {
  createIntegration,
  deleteIntegration,
  getIntegration,
  listIntegrations,
  testIntegration,
  updateIntegration,
} from '../../integrations/commands.js';
import { deleteSecret, listSecrets, putSecret } from '../../secrets/commands.js';
import type { Services } from '../../services.js';
import type { Ctx } from '../../tracking/context.js';
import { actorOf, type Env, readJson } from '../http.js';

/** Team settings: secrets (write-only values) and integrations (webhook, Slack). */
export function settingsRoutes(_ctx: Ctx, s: Services) {
  const r = new Hono<Env>();
  const force = (q: string | undefined) => q === 'true' || q === '1';

  r.put('/teams/:team/secrets/:name', async (c) => {
    const body = await readJson(c);
    return c.json(await putSecret(s, actorOf(c), c.req.param('team'), c.req.param('name'), body.value));
  });
  r.get('/teams/:team/secrets', async (c) => c.json(await listSecrets(s, actorOf(c), c.req.param('team'))));
  r.delete('/teams/:team/secrets/:name', async (c) =>
    c.json(
      await deleteSecret(
        s,
        actorOf(c),
        c.req.param('team'),
        c.req.param('name'),
        force(c.req.query('force')),
      ),
    ),
  );

  r.post('/teams/:team/integrations', async (c) =>
    c.json(await createIntegration(s, actorOf(c), c.req.param('team'), await readJson(c)), 201),
  );
  r.get('/teams/:team/integrations', async (c) =>
    c.json(await listIntegrations(s, actorOf(c), c.req.param('team'))),
  );
  r.get('/teams/:team/integrations/:id', async (c) =>
    c.json(await getIntegration(s, actorOf(c), c.req.param('team'), c.req.param('id'))),
  );
  r.patch('/teams/:team/integrations/:id', async (c) =>
    c.json(await updateIntegration(s, actorOf(c), c.req.param('team'), c.req.param('id'), await readJson(c))),
  );
  r.delete('/teams/:team/integrations/:id', async (c) =>
    c.json(
      await deleteIntegration(
        s,
        actorOf(c),
        c.req.param('team'),
        c.req.param('id'),
        force(c.req.query('force')),
      ),
    ),
  );
  r.post('/teams/:team/integrations/:id/test', async (c) =>
    c.json(await testIntegration(s, actorOf(c), c.req.param('team'), c.req.param('id'), await readJson(c))),
  );
  return r;
}
