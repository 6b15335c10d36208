/**
 * Retry schedule (documented in docs/delivery.md): the first attempt is immediate, then retries
 * after 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h and 12 h — 10 attempts over about 23.7 hours.
 * Each delay gets ±20 % jitter so a recovering receiver is not hit by a synchronized wave.
 * A Retry-After from the receiver (429/503) is honoured when it asks for longer, up to 1 hour.
 * TRIPLINE_RETRY_SCALE multiplies every delay (tests use a small factor; 1 in production).
 */
export const RETRY_DELAYS_S = [5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600];
export const MAX_ATTEMPTS = RETRY_DELAYS_S.length + 1;
const MAX_RETRY_AFTER_S = 3600;

export function retryScale(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.TRIPLINE_RETRY_SCALE ?? 1);
  return Number.isFinite(v) && v > 0 ? v : 1;
}

/**
 * Delay before the next attempt after `attempts` attempts (1-based). Retry-After is the receiver's
 * explicit wish, so it is not scaled.
 */
export function nextDelayMs(
  attempts: number,
  retryAfterS: number | undefined,
  scale: number,
  rand = Math.random,
): number {
  const base = RETRY_DELAYS_S[Math.min(Math.max(attempts, 1), RETRY_DELAYS_S.length) - 1];
  const scheduled = base * (0.8 + 0.4 * rand()) * scale * 1000;
  const asked = retryAfterS === undefined ? 0 : Math.min(retryAfterS, MAX_RETRY_AFTER_S) * 1000;
  return Math.round(Math.max(scheduled, asked));
}
