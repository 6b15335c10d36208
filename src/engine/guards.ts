import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.js';
import type { CompiledAutomation } from './automation-index.js';

export const RUN_METRIC_DEDUP_MS = 24 * 3600 * 1000;

export type GuardVerdict = 'fire' | 'skip' | 'suppress';

/**
 * Noise control, checked in the engine's transaction:
 * - a run-metric automation fires at most once per run per 24 h ("skip": by design, not counted);
 * - cooldown: no firing within `cooldownSeconds` of the automation's last execution ("suppress");
 * - rate limit: at most `rateLimitPerHour` executions in any hour, 0 = unlimited ("suppress").
 * Suppressed firings are counted on the automation (suppressedCount, lastSuppressedAt).
 */
export async function checkGuards(
  db: Kysely<DB>,
  a: CompiledAutomation,
  runId: string | null,
  at: Date,
): Promise<GuardVerdict> {
  if (a.eventType.startsWith('RUN_METRIC') && runId) {
    const fired = await db
      .selectFrom('automation_run_fired')
      .select('fired_at')
      .where('automation_id', '=', a.id)
      .where('run_id', '=', runId)
      .executeTakeFirst();
    if (fired && at.getTime() - Date.parse(fired.fired_at) < RUN_METRIC_DEDUP_MS) return 'skip';
  }
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
