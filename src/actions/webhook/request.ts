/**
 * The outbound webhook request (api.md "Outbound webhook request"), ready for the safe HTTP client.
 * Built once per attempt: the body and `webhook-id` stay the same across retries, the timestamp
 * and therefore the Standard Webhooks signature are fresh each time.
 */
import pkg from '../../../package.json' with { type: 'json' };
import { standardWebhookHeaders, wandbSignature } from './sign.js';

export const USER_AGENT = `Tripline/${pkg.version}`;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export function buildWebhookRequest(opts: {
  url: string;
  /** The rendered payload (`renderTemplate(...).body`). */
  body: string;
  /** Stable across retries of one delivery, e.g. the execution id. */
  messageId: string;
  /** Time of this attempt. */
  timestamp: Date;
  /** The integration's signing secret, if it has one. */
  secret?: string;
  /** The integration's access-token secret, if it has one. */
  accessToken?: string;
}): WebhookRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
  };
  if (opts.accessToken) headers.authorization = `Bearer ${opts.accessToken}`;
  if (opts.secret) headers['x-wandb-signature'] = wandbSignature(opts.secret, opts.body);
  Object.assign(
    headers,
    standardWebhookHeaders({
      id: opts.messageId,
      timestamp: opts.timestamp,
      body: opts.body,
      secret: opts.secret,
    }),
  );
  return { url: opts.url, headers, body: opts.body };
}
