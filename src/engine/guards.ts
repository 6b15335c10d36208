import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.js';
import type { CompiledAutomation } from './automation-index.js';

export const RUN_METRIC_DEDUP_MS = 24 * 3600 * 1000;

export type GuardVerdict = 'fire' | 'suppress';

/**
 * A run-metric automation fires at most once per run per 24 h. Checked before its conditions are
 * evaluated, so a run that already fired costs one lookup per batch, not a full evaluation.
 */
export async function firedForRunRecently(
  db: Kysely<DB>,
  a: CompiledAutomation,
  runId: string | null,
  at: Date,
) {
  if (!a.eventType.startsWith('RUN_METRIC') || !runId) return false;
  const fired = await db
    .selectFrom('automation_run_fired')
    .select('fired_at')
    .where('automation_id', '=', a.id)
    .where('run_id', '=', runId)
    .executeTakeFirst();
  return !!fired && at.getTime() - Date.parse(fired.fired_at) < RUN_METRIC_DEDUP_MS;
}

/**
 * Noise control, checked in the engine's transaction once an automation's conditions hold:
 * - cooldown: no firing within `cooldownSeconds` of the automation's last execution;
 * - rate limit: at most `rateLimitPerHour` executions in any hour, 0 = unlimited.
 * Suppressed firings are counted on the automation (suppressedCount, lastSuppressedAt).
 */
export async function checkGuards(db: Kysely<DB>, a: CompiledAutomation, at: Date): Promise<GuardVerdict> {
  if (a.cooldownSeconds > 0 && a.lastExecutionAt) {
    if (at.getTime() - Date.parse(a.lastExecutionAt) < a.cooldownSeconds * 1000) return 'suppress';
  }
  if (a.rateLimitPerHour > 0) {
    const since = new Date(at.getTime() - 3600_000).toISOString();
    const r = await db
      .selectFrom('executions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('automation_id', '=', a.id)
      .where('triggered_at', '>', since)
      .executeTakeFirstOrThrow();
    if (Number(r.n) >= a.rateLimitPerHour) return 'suppress';
  }
  return 'fire';
}

export async function recordSuppressed(db: Kysely<DB>, a: CompiledAutomation, at: Date) {
  await db
    .updateTable('automations')
    .set((eb) => ({ suppressed_count: eb('suppressed_count', '+', 1), last_suppressed_at: at.toISOString() }))
    .where('id', '=', a.id)
    .execute();
}

export async function recordRunFired(db: Kysely<DB>, a: CompiledAutomation, runId: string, at: Date) {
  await db
    .insertInto('automation_run_fired')
    .values({ automation_id: a.id, run_id: runId, fired_at: at.toISOString() })
    .onConflict((oc) => oc.columns(['automation_id', 'run_id']).doUpdateSet({ fired_at: at.toISOString() }))
    .execute();
}
