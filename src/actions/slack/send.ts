/**
 * Sending Slack notifications, once: the delivery queue owns retries and backoff, so the Slack
 * client's own retries and rate-limit waiting are off, and every outcome comes back as a value the
 * queue can act on (`retryable`, `retryAfterSeconds`) and record (`status`, `error`, `body`).
 *
 * Two integration kinds (api.md "integrations"):
 * - bot token + channel: `chat.postMessage` through @slack/web-api against TRIPLINE_SLACK_API_URL.
 *   That URL is operator configuration, not user input, so it does not go through the SSRF guard.
 * - incoming-webhook URL: a user-supplied URL, so it goes through the safe HTTP client.
 */

import { LogLevel, WebClient } from '@slack/web-api';
import { type SafeHttp, SafeHttpError } from '../../delivery/safe-http.js';
import { parseRetryAfter } from '../outcome.js';
import type { SlackMessage } from './message.js';

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api/';

export interface SlackSendResult {
  ok: boolean;
  /** HTTP status when a response arrived. Slack API errors arrive as 200 with `ok: false`. */
  status?: number;
  /** Slack's error code (`channel_not_found`, `invalid_auth`, `ratelimited`, `no_service`…) or a transport error. */
  error?: string;
  /** From Retry-After on a 429. */
  retryAfterSeconds?: number;
  /** Whether sending the same message again later may succeed. */
  retryable: boolean;
  /** Response excerpt for the history. */
  body?: string;
  /** Where the message landed (chat.postMessage only). */
  channel?: string;
  ts?: string;
}

// Slack API errors that are about Slack, not about the request; everything else (bad token,
// unknown channel, bot not in channel, invalid blocks) fails the same way on every retry.
const RETRYABLE_SLACK_ERRORS = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

export async function sendSlack(opts: {
  apiUrl?: string;
  token: string;
  channel: string;
  message: SlackMessage;
  timeoutMs?: number;
}): Promise<SlackSendResult> {
  const apiUrl = opts.apiUrl || DEFAULT_SLACK_API_URL;
  const client = new WebClient(opts.token, {
    // WebClient appends the method name to this URL as is.
    slackApiUrl: apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    allowAbsoluteUrls: false,
    timeout: opts.timeoutMs ?? 10_000,
    // Its warnings would repeat what the result already says, without our context.
    logLevel: LogLevel.ERROR,
  });
  try {
    const result = await client.chat.postMessage({
      channel: opts.channel,
      text: opts.message.text,
      blocks: opts.message.blocks,
      attachments: opts.message.attachments,
    });
    return {
      ok: true,
      status: 200,
      retryable: false,
      channel: result.channel,
      ts: result.ts,
      body: excerpt(JSON.stringify({ ok: true, channel: result.channel, ts: result.ts })),
    };
  } catch (err) {
    return slackErrorResult(err);
  }
}

function slackErrorResult(err: unknown): SlackSendResult {
  const e = err as {
    code?: string;
    data?: { error?: string };
    retryAfter?: number;
    statusCode?: number;
    body?: unknown;
    original?: Error;
    message?: string;
  };
  switch (e.code) {
    case 'slack_webapi_platform_error': {
      const error = e.data?.error ?? 'unknown_error';
      return {
        ok: false,
        status: 200,
        error,
        retryable: RETRYABLE_SLACK_ERRORS.has(error),
        body: excerpt(JSON.stringify(e.data)),
      };
    }
    case 'slack_webapi_rate_limited_error':
      return {
        ok: false,
        status: 429,
        error: 'ratelimited',
        retryAfterSeconds: e.retryAfter,
        retryable: true,
      };
    case 'slack_webapi_http_error':
      return {
        ok: false,
        status: e.statusCode,
        error: `http_${e.statusCode}`,
        retryable: isRetryableStatus(e.statusCode ?? 0),
        body: typeof e.body === 'string' ? excerpt(e.body) : undefined,
      };
    case 'slack_webapi_request_error': {
      const original = e.original;
      const timedOut = original?.name === 'TimeoutError' || original?.name === 'AbortError';
      const detail = original?.cause instanceof Error ? original.cause.message : original?.message;
      return {
        ok: false,
        error: timedOut ? 'timeout' : `request failed: ${detail ?? 'unknown error'}`,
        retryable: true,
      };
    }
    default:
      // A 429 without a usable Retry-After surfaces as a plain Error from the client.
      if (/rate limit|Retry header/i.test(e.message ?? '')) {
        return { ok: false, status: 429, error: 'ratelimited', retryable: true };
      }
      return { ok: false, error: e.message ?? String(err), retryable: false };
  }
}

/** Posts to a Slack incoming-webhook URL; the URL is user input, so only through `http`. */
export async function sendSlackIncomingWebhook(
  url: string,
  message: SlackMessage,
  http: SafeHttp,
): Promise<SlackSendResult> {
  try {
    const res = await http.send({
      url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
    });
    const body = excerpt(res.body);
    if (res.status >= 200 && res.status < 300)
      return { ok: true, status: res.status, retryable: false, body };
    return {
      ok: false,
      status: res.status,
      // Incoming webhooks answer errors as plain text such as `invalid_payload` or `no_service`.
      error: /^[a-z_]+$/.test(res.body.trim()) ? res.body.trim() : `http_${res.status}`,
      retryAfterSeconds: res.status === 429 ? parseRetryAfter(res.headers['retry-after']) : undefined,
      retryable: isRetryableStatus(res.status),
      body,
    };
  } catch (err) {
    if (err instanceof SafeHttpError) {
      return {
        ok: false,
        error: err.message,
        retryable: err.kind === 'timeout' || err.kind === 'connection',
      };
    }
    throw err;
  }
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function excerpt(text: string, max = 1000): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

export { parseRetryAfter };
