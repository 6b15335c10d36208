import { Hono } from 'hono';
import { eventLink, slackEventFields } from '../../actions/slack/deliver.js';
import { buildSlackMessage } from '../../actions/slack/message.js';
import { listTemplateVariables } from '../../actions/template.js';
import { sampleDetails, templateVariables } from '../../actions/variables.js';
import {
  createAutomation,
  deleteAutomation,
  getAutomation,
  listAutomations,
  updateAutomation,
} from '../../automations/commands.js';
import { parseDefinition } from '../../automations/definition.js';
import {
  automationExecutions,
  getExecution,
  redeliver,
  teamExecutions,
} from '../../automations/executions.js';
import { maskedPayload } from '../../engine/record.js';
import { findIntegration, integrationSecretNames } from '../../integrations/queries.js';
import type { Services } from '../../services.js';
import type { Ctx } from '../../tracking/context.js';
import { teamAccess } from '../../tracking/teams.js';
import { parseJson } from '../../tracking/util.js';
import { actorOf, type Env, page, readJson } from '../http.js';

/** Automations, their execution history and redelivery. */
export function automationRoutes(ctx: Ctx, s: Services) {
  const r = new Hono<Env>();

  r.post('/automations', async (c) =>
    c.json(await createAutomation(ctx, actorOf(c), await readJson(c)), 201),
  );
  r.get('/automations', async (c) => {
    const { team, project, registry } = c.req.query();
    return c.json(await listAutomations(ctx, actorOf(c), { team, project, registry, ...page(c) }));
  });

  // A dry render of a webhook payload on the scope's most recent real event of that type, or a sample.
  r.post('/automations/preview', async (c) => {
    const actor = actorOf(c);
    const body = await readJson(c);
    let teamId = '';
    const def = await parseDefinition(
      ctx.db,
      { name: 'preview', ...body },
      async (scope) => (teamId = (await teamAccess(ctx, actor, scope.team)).id),
    );
    const recent = await ctx.db
      .selectFrom('executions')
      .innerJoin('automations', 'automations.id', 'executions.automation_id')
      .select('executions.event')
      .where('executions.team_id', '=', teamId)
      .where('automations.event_type', '=', def.eventType)
      .orderBy('executions.triggered_at', 'desc')
      .executeTakeFirst();
    const details = recent
      ? parseJson<{ details: ReturnType<typeof sampleDetails> }>(recent.event, {
          details: sampleDetails(def.eventType, '', ''),
        }).details
      : sampleDetails(def.eventType, def.scope.team, def.scope.project ?? def.scope.registry ?? 'my-project');
    const integration = def.action.integrationId
      ? await findIntegration(ctx.db, teamId, def.action.integrationId)
      : undefined;
    const vars = templateVariables(def.eventType, details);
    let payload: unknown = null;
    if (def.action.type === 'GENERIC_WEBHOOK') {
      payload = parseJson(maskedPayload(def.action.payload, vars, integration), null);
    } else if (def.action.type === 'NOTIFICATION') {
      // The Slack message as it would be posted (links point at this server's public URL).
      payload = buildSlackMessage({
        title: def.action.title,
        message: def.action.message,
        severity: def.action.severity ?? 'INFO',
        event: slackEventFields(def.eventType, vars),
        url: eventLink(s.config.publicUrl, details, 'preview'),
      });
    }
    return c.json({ payload, sample: !recent, event: { type: def.eventType, details } });
  });

  r.get('/template-variables', async (c) => {
    const team = c.req.query('team');
    const integrationId = c.req.query('integrationId');
    let secretNames: string[] = [];
    if (team && integrationId) {
      const t = await teamAccess(ctx, actorOf(c), team);
      const i = await findIntegration(ctx.db, t.id, integrationId);
      if (i) secretNames = integrationSecretNames(i);
    }
    return c.json({ variables: listTemplateVariables({ secretNames }) });
  });

  r.get('/automations/:id', async (c) => c.json(await getAutomation(ctx, actorOf(c), c.req.param('id'))));
  r.patch('/automations/:id', async (c) =>
    c.json(await updateAutomation(ctx, actorOf(c), c.req.param('id'), await readJson(c))),
  );
  r.delete('/automations/:id', async (c) =>
    c.json(await deleteAutomation(ctx, actorOf(c), c.req.param('id'))),
  );
  r.get('/automations/:id/executions', async (c) =>
    c.json(await automationExecutions(ctx, actorOf(c), c.req.param('id'), page(c))),
  );

  r.get('/teams/:team/executions', async (c) => {
    const { project, registry, collection } = c.req.query();
    return c.json(
      await teamExecutions(ctx, actorOf(c), c.req.param('team'), { project, registry, collection }, page(c)),
    );
  });
  r.get('/executions/:id', async (c) => c.json(await getExecution(ctx, actorOf(c), c.req.param('id'))));
  r.post('/executions/:id/redeliver', async (c) =>
    c.json(await redeliver(ctx, actorOf(c), c.req.param('id'))),
  );
  return r;
}
