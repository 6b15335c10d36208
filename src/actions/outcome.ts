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

/**
 * The outcome with every secret value masked in what the history and the `/test` answer keep: the
 * receiver's response (an echoing receiver, like httpbin, sends the token and payload back) and the
 * error (an unparsable Slack incoming-webhook URL, itself a secret, is quoted in "invalid URL").
 * Each value is masked raw and JSON-escaped (up to three levels); longest first, so a secret
 * containing another is masked whole.
 */
export function maskSecretsInOutcome(o: AttemptOutcome, secrets: Record<string, string>): AttemptOutcome {
  const forms = new Set<string>();
  for (const v of Object.values(secrets)) {
    // Raw, and JSON-escaped once, twice, three times (the payload echoed inside a JSON answer…).
    for (let form = v, i = 0; form.length > 0 && i < 4; form = JSON.stringify(form).slice(1, -1), i++)
      forms.add(form);
  }
  if (forms.size === 0) return o;
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  const mask = (text: string | undefined) =>
    text === undefined ? undefined : sorted.reduce((out, s) => out.split(s).join('••••••'), text);
  return { ...o, body: mask(o.body), error: mask(o.error) };
}
