import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';
import { type AttemptOutcome, type DeliveryJob, maskSecretsInOutcome } from '../actions/outcome.js';
import { deliverSlack } from '../actions/slack/deliver.js';
import type { FiredEventDetails } from '../actions/variables.js';
import { deliverWebhook } from '../actions/webhook/deliver.js';
import { findIntegration, type IntegrationRecord, integrationSecretNames } from '../integrations/queries.js';
import type { Keyring } from '../secrets/crypto.js';
import { resolveSecrets } from '../secrets/vault.js';
import type { Store } from '../store/db.js';
import type { DB } from '../store/schema.js';
import { newId, parseJson } from '../tracking/util.js';
import {
  claimDeliveries,
  completeDeliveries,
  type DeliveryRow,
  failDelivery,
  recordAttempts,
  releaseAllLeases,
  releaseDeliveries,
  retryDelivery,
} from './queue.js';
import { createSafeHttp, type SafeHttp } from './safe-http.js';
import { MAX_ATTEMPTS, nextDelayMs } from './schedule.js';

/** An integration is flagged after this many failed attempts in a row… */
export const FLAG_AFTER_FAILURES = 5;
/** …and paused (its deliveries fail at once, with the reason) after this many, failing for an hour. */
export const PAUSE_AFTER_FAILURES = 20;
const PAUSE_AFTER_MS = 3600_000;
/** Slack allows about one message per second per channel. */
const SLACK_CHANNEL_INTERVAL_MS = 1000;
const EXCERPT_CHARS = 4096;

const attemptsTotal = new Counter({
  name: 'tripline_delivery_attempts_total',
  help: 'Delivery attempts by outcome',
  labelNames: ['outcome'],
});
const attemptSeconds = new Histogram({
  name: 'tripline_delivery_attempt_seconds',
  help: 'Duration of delivery attempts',
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

export interface WorkerOptions {
  logger: Logger;
  keyring: Keyring;
  allowPrivate: string[];
  slackApiUrl: string;
  publicUrl: string;
  retryScale: number;
  concurrency?: number;
  pollMs?: number;
  leaseMs?: number;
  /** Whole-request deadline of one send (default 10 s). */
  timeoutMs?: number;
  /** Test seam: the HTTP client for webhooks and Slack incoming webhooks. */
  http?: SafeHttp;
}

export interface DeliveryWorker {
  /** New jobs may be due: claim now instead of at the next poll (no-op when busy). */
  wake(): void;
  stop(): Promise<void>;
}

/** A claimed job with what it needs, read with its batch. */
interface Claimed {
  job: DeliveryRow;
  batch: BatchLookups;
  /** The execution (null: it no longer exists; undefined: read it when starting). */
  exec: DB['executions'] | null | undefined;
}

interface AttemptRecord {
  d: DeliveryRow;
  exec: DB['executions'];
  integration: IntegrationRecord | undefined;
  o: AttemptOutcome;
}

type BatchLookups = ReturnType<typeof batchLookupsFor>;

/** Integrations and their decrypted secrets, looked up once per claimed batch. */
function batchLookupsFor(store: Store, keyring: Keyring) {
  const integrations = new Map<string, Promise<IntegrationRecord | undefined>>();
  const secrets = new Map<string, Promise<Record<string, string>>>();
  return {
    integration(teamId: string, id: string) {
      const key = `${teamId}|${id}`;
      let p = integrations.get(key);
      if (!p) {
        p = findIntegration(store.db, teamId, id);
        integrations.set(key, p);
      }
      return p;
    },
    secrets(i: IntegrationRecord) {
      let p = secrets.get(i.id);
      if (!p) {
        p = resolveSecrets(store.db, keyring, i.teamId, integrationSecretNames(i));
        secrets.set(i.id, p);
      }
      return p;
    },
  };
}
/**
 * Claims due jobs with a lease, sends them, records the attempt, and completes, reschedules (with
 * backoff, honouring Retry-After) or fails each one. Runs `concurrency` sends at a time.
 *
 * Bookkeeping goes through one loop (`pump`) that makes one transaction at a time: the attempts
 * finished since the last one (group commit, a few multi-row statements for the whole group) and,
 * in the same transaction, the claim of the next jobs. On SQLite every commit is an fsync that
 * blocks the event loop, so commits per delivery are what bound the throughput.
 *
 * A send's slot is only freed once its attempt is committed: at most `concurrency` jobs are ever
 * sent and not yet recorded, so a crash re-sends at most that many.
 */
export async function startDeliveryWorker(store: Store, opts: WorkerOptions): Promise<DeliveryWorker> {
  const owner = `worker-${randomUUID()}`;
  const concurrency = opts.concurrency ?? 16;
  const pollMs = opts.pollMs ?? 20;
  const leaseMs = opts.leaseMs ?? 30_000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const http = opts.http ?? createSafeHttp({ allowPrivate: opts.allowPrivate, timeoutMs });
  const slackNext = new Map<string, number>();
  // With SQLite this process is the only worker: leases left by a crashed run can be taken back now.
  if (store.dialect === 'sqlite') await releaseAllLeases(store);

  /**
   * Claimed jobs not started yet. The worker claims ahead (up to `reserve` jobs in hand) so a
   * finished send is replaced at once from here instead of after a claim; only started jobs are
   * ever sent, so a crash still re-sends at most `concurrency` of them.
   */
  const reserve = 3 * concurrency;
  const queued: Claimed[] = [];
  /** Started and not yet recorded (sending, or waiting for the commit of its attempt). */
  let inflight = 0;
  const toRecord: AttemptRecord[] = [];
  let stopped = false;
  /** Whether to look for due jobs at the next transaction (false after a claim came back short). */
  let claimDue = true;
  let pollTimer: NodeJS.Timeout | undefined;
  let pumping = false;
  let pumpAgain = false;
  let idle: (() => void) | undefined;

  /** There is something for the pump to do: records to write or jobs to claim. */
  function kick() {
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = true;
    // Let the answers already received in this turn of the event loop join the batch.
    setImmediate(pump);
  }

  function wake() {
    if (stopped) return;
    claimDue = true;
    if (pollTimer) {
      clearTimeout(pollTimer);
      pollTimer = undefined;
    }
    kick();
  }

  function armPoll() {
    if (!stopped && !pollTimer)
      pollTimer = setTimeout(() => {
        pollTimer = undefined;
        wake();
      }, pollMs);
  }

  /** How many jobs to claim with the next transaction, given `recording` attempts about to be committed. */
  function claimRoom(recording: number) {
    if (stopped || !claimDue) return 0;
    const held = inflight - recording + queued.length;
    // Claim when less than one round of sends is in hand, in batches of at least `concurrency`.
    return held < concurrency ? reserve - held : 0;
  }

  async function pump() {
    try {
      while (true) {
        pumpAgain = false;
        const batch = toRecord.splice(0);
        const room = claimRoom(batch.length);
        if (batch.length === 0 && room === 0) break;
        let claimed: DeliveryRow[] = [];
        try {
          claimed = await commit(batch, room);
        } catch (err) {
          opts.logger.error({ err }, 'claiming deliveries failed; retrying');
          claimDue = false;
        }
        inflight -= batch.length;
        if (room > 0 && claimed.length < room) claimDue = false;
        if (claimed.length > 0) {
          const execs = await loadExecutions(claimed).catch((err) => {
            opts.logger.error({ err }, 'reading executions of claimed deliveries failed');
            return undefined;
          });
          const lookups = batchLookupsFor(store, opts.keyring);
          for (const job of claimed)
            queued.push({ job, batch: lookups, exec: execs && (execs.get(job.execution_id) ?? null) });
        }
        startQueued();
        if (toRecord.length === 0 && claimRoom(0) === 0) break;
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      pumping = false;
    }
    if (!claimDue) armPoll();
    if (pumpAgain || toRecord.length > 0) kick();
    checkIdle();
  }

  function checkIdle() {
    if (idle && !pumping && inflight === 0) idle();
  }

  /** One transaction: the finished attempts, then the claim of up to `room` jobs. */
  async function commit(batch: AttemptRecord[], room: number): Promise<DeliveryRow[]> {
    try {
      return await store.db.transaction().execute(async (trx) => {
        if (batch.length > 0) await writeRecords(trx, batch);
        return claimDeliveries(trx, store.dialect, owner, room, leaseMs);
      });
    } catch (err) {
      if (batch.length === 0) throw err;
      // One bad record must not sink the others: write them one by one; claim next time.
      for (const r of batch) {
        try {
          await store.db.transaction().execute((trx) => writeRecords(trx, [r]));
        } catch (e) {
          opts.logger.error({ err: e, deliveryId: r.d.id }, 'recording a delivery attempt failed');
        }
      }
      return [];
    }
  }

  function startQueued() {
    while (!stopped && inflight < concurrency && queued.length > 0) {
      const c = queued.shift()!;
      inflight++;
      processJob(c).then(
        (rec) => {
          if (rec) {
            toRecord.push(rec);
            kick();
          } else done();
        },
        (err) => {
          opts.logger.error({ err, deliveryId: c.job.id }, 'delivery processing failed');
          done();
        },
      );
    }
    // The reserve ran low: claim more now rather than when the next attempt is recorded.
    if (claimRoom(0) > 0) kick();
  }

  /** A started job that needs no attempt record (it was handled directly). */
  function done() {
    inflight--;
    startQueued();
    checkIdle();
  }

  async function loadExecutions(jobs: DeliveryRow[]) {
    const rows = await store.db
      .selectFrom('executions')
      .selectAll()
      .where(
        'id',
        'in',
        jobs.map((j) => j.execution_id),
      )
      .execute();
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Sends one job; returns the attempt to record (undefined when handled without an attempt). */
  async function processJob({ job: d, batch, exec }: Claimed): Promise<AttemptRecord | undefined> {
    if (exec === undefined)
      exec = await store.db
        .selectFrom('executions')
        .selectAll()
        .where('id', '=', d.execution_id)
        .executeTakeFirst();
    if (!exec) {
      await failDelivery(store.db, d, 'execution no longer exists');
      return undefined;
    }
    const action = parseJson<{ type: string; integrationId?: string; template?: Record<string, unknown> }>(
      exec.action,
      {
        type: 'NO_OP',
      },
    );
    const event = parseJson<{ type: string; details: FiredEventDetails }>(exec.event, {
      type: '',
      details: { team: '' },
    });
    const job: DeliveryJob = {
      executionId: exec.id,
      teamId: exec.team_id,
      eventType: event.type,
      details: event.details,
      template: action.template ?? {},
    };
    const integration = action.integrationId
      ? await batch.integration(exec.team_id, action.integrationId)
      : undefined;
    let outcome: AttemptOutcome;
    // Whether the integration itself was tried (health counts only those attempts).
    let tried = false;
    if (!integration) {
      outcome = { ok: false, retryable: false, durationMs: 0, error: 'the integration was deleted' };
    } else if (integration.status === 'paused') {
      outcome = {
        ok: false,
        retryable: false,
        durationMs: 0,
        error: `integration "${integration.name}" is paused: ${integration.statusReason ?? 'too many failures'}`,
      };
    } else {
      const channelKey =
        integration.kind === 'slack' ? `${integration.id}|${integration.config.channel ?? ''}` : '';
      if (channelKey) {
        const next = slackNext.get(channelKey) ?? 0;
        if (Date.now() < next) {
          await retryDelivery(store.db, d, new Date(next), 'waiting for Slack rate limit', true);
          return undefined;
        }
        slackNext.set(channelKey, Date.now() + SLACK_CHANNEL_INTERVAL_MS);
      }
      tried = true;
      outcome = await send(job, integration, batch);
      if (channelKey) {
        // Count the second from when this message has surely reached Slack (the answer came), not
        // from when it was sent: otherwise a slow send followed by a fast one arrive < 1 s apart.
        const wait = outcome.status === 429 ? (outcome.retryAfterS ?? 1) * 1000 : SLACK_CHANNEL_INTERVAL_MS;
        slackNext.set(channelKey, Math.max(slackNext.get(channelKey) ?? 0, Date.now() + wait));
      }
    }
    const finalFailure = !outcome.ok && (!outcome.retryable || d.attempts >= MAX_ATTEMPTS);
    attemptsTotal.inc({ outcome: outcome.ok ? 'success' : finalFailure ? 'failed' : 'retry' });
    attemptSeconds.observe(outcome.durationMs / 1000);
    return { d, exec, integration: tried ? integration : undefined, o: outcome };
  }

  async function send(
    job: DeliveryJob,
    integration: IntegrationRecord,
    batch: BatchLookups,
  ): Promise<AttemptOutcome> {
    let secrets: Record<string, string>;
    try {
      secrets = await batch.secrets(integration);
    } catch (err) {
      return {
        ok: false,
        retryable: false,
        durationMs: 0,
        error: `a secret could not be decrypted: ${(err as Error).message}`,
      };
    }
    const o =
      integration.kind === 'webhook'
        ? await deliverWebhook(job, integration, secrets, http)
        : await deliverSlack(job, integration, secrets, {
            http,
            apiUrl: opts.slackApiUrl,
            publicUrl: opts.publicUrl,
            timeoutMs,
          });
    return maskSecretsInOutcome(o, secrets);
  }

  /**
   * Records a group of attempts: the attempts, the executions' state and result, the jobs and the
   * integrations' health — three statements for a group of successes (one multi-row INSERT, one
   * UPDATE of the executions, one UPDATE of the jobs), in the caller's transaction.
   */
  async function writeRecords(trx: Store['db'], batch: AttemptRecord[]) {
    const now = new Date();
    const iso = now.toISOString();
    const rows = batch.map((r) => {
      const { d, o } = r;
      const finalFailure = !o.ok && (!o.retryable || d.attempts >= MAX_ATTEMPTS);
      const error = o.ok
        ? undefined
        : finalFailure && o.retryable
          ? `gave up after ${d.attempts} attempts: ${o.error}`
          : o.error;
      const body = o.body === undefined ? undefined : o.body.slice(0, EXCERPT_CHARS);
      const result: Record<string, unknown> = {};
      if (o.status !== undefined) result.status = o.status;
      if (body !== undefined) result.body = body;
      if (error) result.error = error;
      return {
        ...r,
        finalFailure,
        error,
        body,
        state: o.ok ? 'FINISHED' : finalFailure ? 'FAILED' : 'PENDING',
        result: JSON.stringify(result),
        // The masked payload was stored with the execution; write it only if this send differs.
        payload:
          o.payloadMasked !== undefined && o.payloadMasked !== r.exec.payload_masked
            ? o.payloadMasked
            : undefined,
      };
    });
    await recordAttempts(
      trx,
      store.dialect,
      rows.map((r) => ({
        executionId: r.exec.id,
        status: r.o.status ?? null,
        error: r.o.ok ? null : (r.o.error ?? 'failed'),
        durationMs: r.o.durationMs,
        excerpt: r.body ?? null,
        state: r.state,
        result: r.result,
        payloadMasked: r.payload,
      })),
      newId,
      iso,
    );
    await completeDeliveries(
      trx,
      store.dialect,
      rows.filter((r) => r.o.ok).map((r) => r.d.id),
      iso,
    );
    for (const r of rows) {
      if (r.o.ok) continue;
      if (r.finalFailure) await failDelivery(trx, r.d, r.error!);
      else {
        const runAt = new Date(now.getTime() + nextDelayMs(r.d.attempts, r.o.retryAfterS, opts.retryScale));
        await retryDelivery(trx, r.d, runAt, r.o.error ?? null);
      }
    }
    // Health, in the order the attempts finished; repeated successes need one reset only.
    let lastReset: string | undefined;
    for (const r of rows) {
      const i = r.integration;
      if (!i || i.status === 'paused') continue;
      if (r.o.ok && lastReset === i.id) continue;
      await updateHealth(trx, i, r.o, now);
      lastReset = r.o.ok ? i.id : undefined;
    }
  }

  async function updateHealth(trx: Store['db'], i: IntegrationRecord, o: AttemptOutcome, now: Date) {
    const iso = now.toISOString();
    if (o.ok) {
      if (i.consecutiveFailures > 0 || i.status !== 'ok') {
        await trx
          .updateTable('integrations')
          .set({ status: 'ok', status_reason: null, consecutive_failures: 0, failing_since: null })
          .where('id', '=', i.id)
          .execute();
      }
      return;
    }
    const row = await trx
      .selectFrom('integrations')
      .select(['consecutive_failures', 'failing_since', 'status'])
      .where('id', '=', i.id)
      .executeTakeFirst();
    if (!row || row.status === 'paused') return;
    const failures = row.consecutive_failures + 1;
    const since = row.failing_since ?? iso;
    const failingForMs = now.getTime() - Date.parse(since);
    let status: 'ok' | 'failing' | 'paused' = failures >= FLAG_AFTER_FAILURES ? 'failing' : 'ok';
    let reason: string | null =
      status === 'failing' ? `${failures} failed attempts in a row; last: ${o.error}` : null;
    if (failures >= PAUSE_AFTER_FAILURES && failingForMs >= PAUSE_AFTER_MS * opts.retryScale) {
      status = 'paused';
      reason = `paused after ${failures} failed attempts in a row since ${since}; last: ${o.error}. Fix the target and resume it.`;
    }
    await trx
      .updateTable('integrations')
      .set({ consecutive_failures: failures, failing_since: since, status, status_reason: reason })
      .where('id', '=', i.id)
      .execute();
  }

  kick();
  return {
    wake,
    async stop() {
      stopped = true;
      if (pollTimer) clearTimeout(pollTimer);
      // Let the sends under way finish and their attempts (and a claim under way) be committed.
      if (inflight > 0 || pumping) await new Promise<void>((r) => (idle = r));
      // Claimed but never started: hand them back now, without counting an attempt.
      const unsent = queued.splice(0).map((c) => c.job.id);
      await releaseDeliveries(store.db, unsent).catch(() => {});
      if (!opts.http) await http.close();
    },
  };
}
