import type { SafeHttp } from '../../delivery/safe-http.js';
import type { IntegrationRecord } from '../../integrations/queries.js';
import type { AttemptOutcome, DeliveryJob } from '../outcome.js';
import { templateVariables } from '../variables.js';
import { buildSlackMessage, type Severity, type SlackEventFields } from './message.js';
import { sendSlack, sendSlackIncomingWebhook } from './send.js';

/** A link to where the event happened in Tripline's UI. */
export function eventLink(publicUrl: string, d: DeliveryJob['details'], executionId: string): string {
  const base = publicUrl.replace(/\/$/, '');
  const team = encodeURIComponent(d.team);
  const project = encodeURIComponent(d.project ?? '');
  if (d.runId) return `${base}/teams/${team}/projects/${project}/runs/${encodeURIComponent(d.runId)}`;
  if (d.projectKind === 'registry') return `${base}/teams/${team}/registries/${project}`;
  if (d.project) return `${base}/teams/${team}/projects/${project}/history?execution=${executionId}`;
  return `${base}/teams/${team}`;
}

/** The event summary a Slack message shows, from the same values the payload templates use. */
export function slackEventFields(eventType: string, vars: Record<string, unknown>): SlackEventFields {
  const event: SlackEventFields = { event_type: eventType };
  for (const [k, v] of Object.entries(vars)) {
    if (v !== null && v !== undefined && typeof v !== 'object')
      (event as unknown as Record<string, unknown>)[k] = v;
  }
  return event;
}

/** Posts a notification through the integration's bot token (chat.postMessage) or incoming webhook. */
export async function deliverSlack(
  job: DeliveryJob,
  integration: IntegrationRecord,
  secrets: Record<string, string>,
  opts: { http: SafeHttp; apiUrl: string; publicUrl: string; timeoutMs?: number },
): Promise<AttemptOutcome> {
  const vars = templateVariables(job.eventType, job.details);
  const event: SlackEventFields = { event_type: job.eventType };
  for (const [k, v] of Object.entries(vars)) {
    if (v !== null && v !== undefined && typeof v !== 'object')
      (event as unknown as Record<string, unknown>)[k] = v;
  }
  const message = buildSlackMessage({
    title: job.template.title as string | undefined,
    message: job.template.message as string | undefined,
    severity: (job.template.severity as Severity | undefined) ?? 'INFO',
    event,
    url: eventLink(opts.publicUrl, job.details, job.executionId),
  });
  const c = integration.config;
  const started = performance.now();
  const result =
    c.webhookUrlSecret !== undefined
      ? secrets[c.webhookUrlSecret] === undefined
        ? { ok: false, error: `secret ${c.webhookUrlSecret} is missing`, retryable: false }
        : await sendSlackIncomingWebhook(secrets[c.webhookUrlSecret], message, opts.http)
      : secrets[c.botTokenSecret ?? ''] === undefined
        ? { ok: false, error: `secret ${c.botTokenSecret} is missing`, retryable: false }
        : await sendSlack({
            apiUrl: opts.apiUrl,
            token: secrets[c.botTokenSecret!],
            channel: c.channel!,
            message,
            timeoutMs: opts.timeoutMs,
          });
  return {
    ok: result.ok,
    status: 'status' in result ? result.status : undefined,
    error: result.ok ? undefined : result.error,
    body: 'body' in result ? result.body : undefined,
    retryable: result.retryable,
    retryAfterS: 'retryAfterSeconds' in result ? result.retryAfterSeconds : undefined,
    durationMs: Math.round(performance.now() - started),
    payloadMasked: JSON.stringify({ channel: c.channel, ...message }),
  };
}
