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
import { claimDeliveries, type DeliveryRow, failDelivery, releaseAllLeases, retryDelivery } from './queue.js';
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
  stop(): Promise<void>;
}

/**
 * Claims due jobs with a lease, sends them, records the attempt, and completes, reschedules (with
 * backoff, honouring Retry-After) or fails each one. Runs `concurrency` sends at a time.
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

  let stopped = false;
  let inflight = 0;
  const running = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let looping = false;
  /**
   * Claimed jobs not started yet. The worker claims ahead (up to twice its concurrency) so a finished
   * send is replaced at once from here instead of after a claim transaction; only started jobs are
   * ever sent, so a crash still re-sends at most `concurrency` of them.
   */
  const queued: Array<{ job: DeliveryRow; batch: BatchLookups; exec?: DB['executions'] | null }> = [];

  const wake = () => {
    if (!stopped && !looping) {
      if (timer) clearTimeout(timer);
      timer = setTimeout(loop, 0);
    }
  };

  function startQueued() {
    while (!stopped && inflight < concurrency && queued.length > 0) {
      const { job, batch, exec } = queued.shift()!;
      inflight++;
      const p = processJob(job, batch, exec)
        .catch((err) => opts.logger.error({ err, deliveryId: job.id }, 'delivery processing failed'))
        .finally(() => {
          inflight--;
          running.delete(p);
          startQueued();
          // Claim in batches: when the reserve is half used, not after every send.
          if (queued.length <= concurrency / 2) wake();
        });
      running.add(p);
    }
  }

  async function loop() {
    timer = undefined;
    if (stopped || looping) return;
    looping = true;
    let claimed = 0;
    try {
      const room = 2 * concurrency - inflight - queued.length;
      const jobs = room > 0 ? await claimDeliveries(store, owner, room, leaseMs) : [];
      claimed = jobs.length;
      // What the claimed jobs need, read once for the batch rather than per job.
      const execs = jobs.length > 0 ? await loadExecutions(jobs).catch(() => undefined) : undefined;
      const batch = batchLookups();
      for (const job of jobs)
        queued.push({ job, batch, exec: execs && (execs.get(job.execution_id) ?? null) });
      startQueued();
    } catch (err) {
      opts.logger.error({ err }, 'claiming deliveries failed; retrying');
    } finally {
      looping = false;
    }
    if (!stopped && !timer) timer = setTimeout(loop, claimed > 0 && queued.length < concurrency ? 0 : pollMs);
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

  /** Integrations and their decrypted secrets, looked up once per claimed batch. */
  function batchLookups() {
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
          p = resolveSecrets(store.db, opts.keyring, i.teamId, integrationSecretNames(i));
          secrets.set(i.id, p);
        }
        return p;
      },
    };
  }
  type BatchLookups = ReturnType<typeof batchLookups>;

  /** `exec`: the execution read with the batch (null: it does not exist; undefined: read it now). */
  async function processJob(d: DeliveryRow, batch: BatchLookups, exec?: DB['executions'] | null) {
    if (exec === undefined)
      exec = await store.db
        .selectFrom('executions')
        .selectAll()
        .where('id', '=', d.execution_id)
        .executeTakeFirst();
    if (!exec) return failDelivery(store, d, 'execution no longer exists');
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
        if (Date.now() < next)
          return retryDelivery(store, d, new Date(next), 'waiting for Slack rate limit', true);
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
    await record(d, exec.id, tried ? integration : undefined, outcome);
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

  interface AttemptRecord {
    d: DeliveryRow;
    executionId: string;
    integration: IntegrationRecord | undefined;
    o: AttemptOutcome;
    resolve: () => void;
    reject: (err: unknown) => void;
  }
  const toRecord: AttemptRecord[] = [];
  let flushing = false;

  /**
   * Records an attempt: the attempt, the execution's state and result, the job and the
   * integration's health, in one transaction. Attempts that finish while a commit is under way are
   * committed together in the next one (group commit): on SQLite each commit is an fsync, and one
   * per delivery capped the worker at a few hundred deliveries/s.
   */
  function record(
    d: DeliveryRow,
    executionId: string,
    integration: IntegrationRecord | undefined,
    o: AttemptOutcome,
  ): Promise<void> {
    const finalFailure = !o.ok && (!o.retryable || d.attempts >= MAX_ATTEMPTS);
    attemptsTotal.inc({ outcome: o.ok ? 'success' : finalFailure ? 'failed' : 'retry' });
    attemptSeconds.observe(o.durationMs / 1000);
    return new Promise((resolve, reject) => {
      toRecord.push({ d, executionId, integration, o, resolve, reject });
      if (!flushing) void flush();
    });
  }

  async function flush() {
    flushing = true;
    while (toRecord.length > 0) {
      // Let the answers already received in this turn of the event loop join the batch.
      await new Promise((r) => setImmediate(r));
      const batch = toRecord.splice(0);
      try {
        await store.db.transaction().execute(async (trx) => {
          for (const r of batch) await writeRecord(trx, r);
        });
        for (const r of batch) r.resolve();
      } catch (err) {
        if (batch.length === 1) {
          batch[0].reject(err);
          continue;
        }
        // One bad record must not sink the others: write them one by one.
        for (const r of batch) {
          try {
            await store.db.transaction().execute((trx) => writeRecord(trx, r));
            r.resolve();
          } catch (e) {
            r.reject(e);
          }
        }
      }
    }
    flushing = false;
  }

  async function writeRecord(trx: Store['db'], { d, executionId, integration, o }: AttemptRecord) {
    const now = new Date();
    const iso = now.toISOString();
    const finalFailure = !o.ok && (!o.retryable || d.attempts >= MAX_ATTEMPTS);
    const error = o.ok
      ? undefined
      : finalFailure && o.retryable
        ? `gave up after ${d.attempts} attempts: ${o.error}`
        : o.error;
    const body = o.body === undefined ? undefined : o.body.slice(0, EXCERPT_CHARS);
    await trx
      .insertInto('delivery_attempts')
      .values({
        id: newId(),
        execution_id: executionId,
        at: iso,
        status: o.status ?? null,
        error: o.ok ? null : (o.error ?? 'failed'),
        duration_ms: Math.round(o.durationMs),
        response_excerpt: body ?? null,
      })
      .execute();
    const result: Record<string, unknown> = {};
    if (o.status !== undefined) result.status = o.status;
    if (body !== undefined) result.body = body;
    if (error) result.error = error;
    await trx
      .updateTable('executions')
      .set({
        state: o.ok ? 'FINISHED' : finalFailure ? 'FAILED' : 'PENDING',
        result: JSON.stringify(result),
        ...(o.payloadMasked !== undefined ? { payload_masked: o.payloadMasked } : {}),
        updated_at: iso,
      })
      .where('id', '=', executionId)
      .execute();
    const lease = { lease_owner: null, lease_until: null, updated_at: iso };
    if (o.ok) {
      await trx
        .updateTable('deliveries')
        .set({ ...lease, status: 'done', last_error: null })
        .where('id', '=', d.id)
        .execute();
    } else if (finalFailure) {
      await trx
        .updateTable('deliveries')
        .set({ ...lease, status: 'failed', last_error: error! })
        .where('id', '=', d.id)
        .execute();
    } else {
      const runAt = new Date(now.getTime() + nextDelayMs(d.attempts, o.retryAfterS, opts.retryScale));
      await trx
        .updateTable('deliveries')
        .set({ ...lease, run_at: runAt.toISOString(), last_error: o.error ?? null })
        .where('id', '=', d.id)
        .execute();
    }
    if (integration && integration.status !== 'paused') await updateHealth(trx, integration, o, now);
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

  timer = setTimeout(loop, 0);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      // Claimed but never started: hand them back now, without counting an attempt.
      for (const { job } of queued.splice(0))
        await retryDelivery(store, job, new Date(), job.last_error ?? '', true).catch(() => {});
      await Promise.allSettled([...running]);
      if (!opts.http) await http.close();
    },
  };
}
