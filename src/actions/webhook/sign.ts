/**
 * Webhook signatures (api.md "Outbound webhook request").
 *
 * Two schemes are sent side by side:
 * - `X-Wandb-Signature`: base64(HMAC-SHA256(secret, body)), what W&B sends, so receivers written
 *   for W&B keep working. It has no timestamp, so it cannot stop replays.
 * - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): the HMAC covers
 *   `${id}.${timestamp}.${body}`, so a receiver can reject replays and old messages. The key is the
 *   UTF-8 bytes of the integration's secret; a receiver using a Standard Webhooks library passes
 *   `whsec_` + base64(secret) (see `standardWebhooksSecret`).
 *
 * Without a secret, `webhook-signature` is omitted (not sent empty, and never an HMAC with an empty
 * or well-known key): an unkeyed signature proves nothing and would look like a real one. Standard
 * Webhooks verifiers then fail with "missing headers", which is the honest outcome. `webhook-id` and
 * `webhook-timestamp` are still sent because receivers use the id to deduplicate retries.
 */
import { createHmac } from 'node:crypto';

export interface StandardWebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature'?: string;
}

/** W&B's `X-Wandb-Signature`. */
export function wandbSignature(secret: string, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(body, 'utf8').digest('base64');
}

/**
 * Standard Webhooks headers. `id` must stay the same across retries of one message (receivers
 * deduplicate on it); `timestamp` is the time of this attempt, so each retry is signed afresh.
 */
export function standardWebhookHeaders(opts: {
  id: string;
  timestamp: Date;
  body: string;
  secret?: string;
}): StandardWebhookHeaders {
  const seconds = Math.floor(opts.timestamp.getTime() / 1000);
  if (!Number.isSafeInteger(seconds)) throw new RangeError('timestamp is not a valid date');
  // The id goes into a header: only visible ASCII, so it is sent byte for byte as signed.
  if (!/^[\x21-\x7e]+$/.test(opts.id)) throw new RangeError(`invalid webhook id ${JSON.stringify(opts.id)}`);
  const headers: StandardWebhookHeaders = {
    'webhook-id': opts.id,
    'webhook-timestamp': String(seconds),
  };
  if (opts.secret) {
    const mac = createHmac('sha256', Buffer.from(opts.secret, 'utf8'))
      .update(`${opts.id}.${seconds}.${opts.body}`, 'utf8')
      .digest('base64');
    headers['webhook-signature'] = `v1,${mac}`;
  }
  return headers;
}

/** The key a receiver gives a Standard Webhooks library to verify our signatures. */
export function standardWebhooksSecret(secret: string): string {
  return `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;
}
