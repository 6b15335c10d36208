import type { SafeHttp } from '../../delivery/safe-http.js';
import { SafeHttpError } from '../../delivery/safe-http.js';
import type { IntegrationRecord } from '../../integrations/queries.js';
import { type AttemptOutcome, classifyStatus, type DeliveryJob, parseRetryAfter } from '../outcome.js';
import { renderTemplate } from '../template.js';
import { templateVariables } from '../variables.js';
import { buildWebhookRequest } from './request.js';

/**
 * Renders the payload with the secrets' current values, signs it and POSTs it through the safe
 * client. `webhook-id` is the execution id, so every attempt and redelivery carries the same id.
 */
export async function deliverWebhook(
  job: DeliveryJob,
  integration: IntegrationRecord,
  secrets: Record<string, string>,
  http: SafeHttp,
): Promise<AttemptOutcome> {
  const c = integration.config;
  const values: Record<string, string> = { ...secrets };
  if (c.accessTokenSecret && secrets[c.accessTokenSecret] !== undefined)
    values.ACCESS_TOKEN = secrets[c.accessTokenSecret];
  const vars = templateVariables(job.eventType, job.details);
  const rendered = renderTemplate(job.template.payload ?? {}, vars, values);
  const req = buildWebhookRequest({
    url: c.url,
    body: rendered.body,
    messageId: job.executionId,
    timestamp: new Date(),
    secret: c.secret ? secrets[c.secret] : undefined,
    accessToken: values.ACCESS_TOKEN,
  });
  const started = performance.now();
  try {
    const res = await http.send({ url: req.url, headers: req.headers, body: req.body });
    const cls = classifyStatus(res.status);
    const retryAfter = res.headers['retry-after'];
    return {
      ...cls,
      status: res.status,
      body: res.body,
      durationMs: res.durationMs,
      error: cls.ok
        ? undefined
        : res.status >= 300 && res.status < 400
          ? `redirect (${res.status}) not followed`
          : `HTTP ${res.status}`,
      retryAfterS: retryAfter === undefined ? undefined : parseRetryAfter(retryAfter),
      payloadMasked: rendered.masked,
    };
  } catch (err) {
    const e = err as SafeHttpError;
    const kind = e instanceof SafeHttpError ? e.kind : 'connection';
    return {
      ok: false,
      retryable: kind === 'timeout' || kind === 'connection',
      error: e.message,
      durationMs: Math.round(performance.now() - started),
      payloadMasked: rendered.masked,
    };
  }
}
