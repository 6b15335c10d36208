import type { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';
import type { IntegrationRecord } from '../integrations/queries.js';
import type { Store } from '../store/db.js';
import { toLogEvent } from '../tracking/event-log.js';
import { AutomationIndex } from './automation-index.js';
import { decide, EventContext } from './decide.js';
import { checkGuards, firedForRunRecently, recordRunFired, recordSuppressed } from './guards.js';
import { recordExecution } from './record.js';

const CURSOR = 'engine';

const eventsProcessed = new Counter({
  name: 'tripline_engine_events_total',
  help: 'Events the engine has processed',
});
const executionsCreated = new Counter({
  name: 'tripline_engine_executions_total',
  help: 'Executions created',
});
const suppressedTotal = new Counter({
  name: 'tripline_engine_suppressed_total',
  help: 'Firings suppressed by guards',
});
const lagSeconds = new Histogram({
  name: 'tripline_engine_event_lag_seconds',
  help: 'Time from an event being committed to its executions being recorded',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
});

export interface EngineOptions {
  logger: Logger;
  batchSize?: number;
  pollMs?: number;
  /** false: process only on drain() or wake() (tests that control timing). Default true. */
  background?: boolean;
  /** Called after a batch that created delivery jobs has committed (the worker can take them now). */
  onDeliveries?: () => void;
}

export interface Engine {
  /** Processes everything in the log now; resolves when caught up. */
  drain(): Promise<void>;
  /** Something may have been logged: look now instead of at the next poll (no-op when busy). */
  wake(): void;
  stop(): Promise<void>;
}

/**
 * Consumes the event log from a durable cursor. Each batch is one transaction: executions, delivery
 * jobs and the cursor advance commit together, so every event is matched exactly once, also across
 * crashes. On PostgreSQL the cursor row is locked for the batch, so a second engine waits its turn.
 */
export function startEngine(store: Store, opts: EngineOptions): Engine {
  const batchSize = opts.batchSize ?? 200;
  const pollMs = opts.pollMs ?? 20;
  const index = new AutomationIndex((id, err) =>
    opts.logger.error(
      { automationId: id, err: (err as Error).message },
      'automation cannot be compiled; skipped',
    ),
  );
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** The batch under way (one at a time: the background tick and drain() share this chain). */
  let chain: Promise<unknown> = Promise.resolve();
  let ticking = false;
  /** A wake-up came while a batch was under way: look again right after it. */
  let woken = false;

  // Events that fired nothing need no durable record: re-reading them after a crash creates
  // nothing. So the cursor row is written with the batch's executions, or at most every second,
  // or when idle — not once per batch, which would double the commits (fsyncs) of busy ingest.
  let memCursor = 0;
  let durableCursor = 0;
  let lastCursorWrite = 0;
  const CURSOR_FLUSH_MS = 1000;

  function runBatch(): Promise<number> {
    const p = chain.then(processBatch);
    chain = p.catch(() => 0);
    return p;
  }

  async function processBatch(): Promise<number> {
    let deliveries = 0;
    const result = await store.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('engine_cursors').select('position').where('name', '=', CURSOR);
      if (store.dialect === 'postgres') q = q.forUpdate();
      let cursorRow = await q.executeTakeFirst();
      if (!cursorRow) {
        await trx
          .insertInto('engine_cursors')
          .values({ name: CURSOR, position: 0, updated_at: new Date().toISOString() })
          .onConflict((oc) => oc.column('name').doNothing())
          .execute();
        cursorRow = await q.executeTakeFirstOrThrow();
      }
      durableCursor = Number(cursorRow.position);
      const cursor = Math.max(durableCursor, memCursor);
      const rows = await trx
        .selectFrom('events')
        .selectAll()
        .where('position', '>', cursor)
        .orderBy('position')
        .limit(batchSize)
        .execute();
      if (rows.length === 0) {
        if (cursor > durableCursor) await writeCursor(trx, cursor, new Date());
        return { n: 0, last: cursor };
      }
      await index.refresh(trx);
      let wrote = false;
      const integrations = new Map<string, IntegrationRecord | undefined>();
      const now = new Date();
      for (const row of rows) {
        const event = toLogEvent(row);
        const candidates = index.candidates(event);
        if (candidates.length > 0) {
          const ectx = new EventContext(trx, event);
          for (const a of candidates) {
            if (await firedForRunRecently(trx, a, event.runId, now)) continue;
            const firing = await decide(ectx, a);
            if (!firing) continue;
            const verdict = await checkGuards(trx, a, now);
            if (verdict === 'suppress') {
              await recordSuppressed(trx, a, now);
              wrote = true;
              suppressedTotal.inc();
              continue;
            }
            await recordExecution(trx, firing, now, integrations);
            wrote = true;
            if (a.action.type !== 'NO_OP') deliveries++;
            if (a.eventType.startsWith('RUN_METRIC') && event.runId)
              await recordRunFired(trx, a, event.runId, now);
            executionsCreated.inc();
          }
        }
        lagSeconds.observe(Math.max(0, now.getTime() - Date.parse(event.createdAt)) / 1000);
      }
      const last = Number(rows[rows.length - 1].position);
      if (wrote || now.getTime() - lastCursorWrite >= CURSOR_FLUSH_MS) await writeCursor(trx, last, now);
      return { n: rows.length, last };
    });
    // Only once the transaction has committed may the in-memory cursor move past these events.
    memCursor = Math.max(memCursor, result.last);
    eventsProcessed.inc(result.n);
    if (deliveries > 0) opts.onDeliveries?.();
    return result.n;
  }

  async function writeCursor(trx: Store['db'], position: number, now: Date) {
    await trx
      .updateTable('engine_cursors')
      .set({ position, updated_at: now.toISOString() })
      .where('name', '=', CURSOR)
      .execute();
    lastCursorWrite = now.getTime();
  }

  async function tick() {
    timer = undefined;
    if (stopped) return;
    ticking = true;
    woken = false;
    let n = 0;
    try {
      n = await runBatch();
    } catch (err) {
      opts.logger.error({ err }, 'engine batch failed; retrying');
      n = 0;
    } finally {
      ticking = false;
    }
    if (!stopped && !timer && (opts.background !== false || woken)) {
      timer = setTimeout(tick, n > 0 || woken ? 0 : pollMs);
    }
  }
  if (opts.background !== false) timer = setTimeout(tick, 0);

  return {
    async drain() {
      while (true) {
        const n = await runBatch();
        if (n === 0) return;
      }
    },
    wake() {
      if (stopped) return;
      if (ticking) {
        woken = true;
        return;
      }
      if (timer) clearTimeout(timer);
      timer = setTimeout(tick, 0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await chain;
    },
  };
}
