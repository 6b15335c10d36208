import type { FiredEventDetails } from './variables.js';

/** What one delivery attempt came to; the worker turns it into history and a queue decision. */
export interface AttemptOutcome {
  ok: boolean;
  status?: number;
  error?: string;
  /** Response excerpt (a few KB at most). */
  body?: string;
  durationMs: number;
  /** Worth trying again later (429, 5xx, timeouts, connection errors). */
  retryable: boolean;
  retryAfterS?: number;
  /** The payload as sent, with secrets masked, for the history. */
  payloadMasked?: string;
}

export interface DeliveryJob {
  executionId: string;
  teamId: string;
  eventType: string;
  /** The execution's recorded event details. */
  details: FiredEventDetails;
  template: Record<string, unknown>;
}

/** HTTP status classes: 2xx success; 408, 425, 429 and 5xx retry; everything else fails at once. */
export function classifyStatus(status: number): { ok: boolean; retryable: boolean } {
  if (status >= 200 && status < 300) return { ok: true, retryable: false };
  if (status === 408 || status === 425 || status === 429 || status >= 500)
    return { ok: false, retryable: true };
  return { ok: false, retryable: false };
}

/** Retry-After is either delay-seconds or an HTTP date; returns seconds from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}
