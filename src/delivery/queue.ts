import { CompiledQuery, type Kysely } from 'kysely';
import type { Dialect, Store } from '../store/db.js';
import type { DB } from '../store/schema.js';

/**
 * The delivery queue: one row per job in `deliveries`. A job is claimed by setting a lease; a lease
 * that expires (a worker died mid-send) makes the job claimable again, so delivery is at-least-once.
 * Each operation is one small function with its SQL in view. Those taking `db` run in the caller's
 * transaction (or alone when given `store.db`).
 *
 * The worker's per-batch statements (claim, attempts, executions, completion) are written as SQL
 * text rather than built with Kysely: they run for every group of deliveries, and building and
 * compiling them cost about as much as SQLite takes to run them.
 */
export type DeliveryRow = DB['deliveries'];

/** Runs `text` with `?` placeholders (numbered `$n` on PostgreSQL). */
async function run<R>(db: Kysely<DB>, dialect: Dialect, text: string, params: unknown[]): Promise<R[]> {
  let i = 0;
  const q = dialect === 'postgres' ? text.replace(/\?/g, () => `$${++i}`) : text;
  return (await db.executeQuery<R>(CompiledQuery.raw(q, params))).rows;
}

const list = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/**
 * Claims up to `n` due jobs for `owner`, counting the attempt, in one statement. PostgreSQL skips
 * rows others hold.
 */
export async function claimDeliveries(
  db: Kysely<DB>,
  dialect: Dialect,
  owner: string,
  n: number,
  leaseMs: number,
): Promise<DeliveryRow[]> {
  if (n <= 0) return [];
  const now = new Date();
  const iso = now.toISOString();
  const until = new Date(now.getTime() + leaseMs).toISOString();
  return run<DeliveryRow>(
    db,
    dialect,
    `update deliveries set lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
     where id in (select id from deliveries
       where status = 'pending' and run_at <= ? and (lease_until is null or lease_until < ?)
       order by run_at limit ?${dialect === 'postgres' ? ' for update skip locked' : ''})
     returning *`,
    [owner, until, iso, iso, iso, n],
  );
}

/** One attempt to record (see recordAttempts). */
export interface AttemptRow {
  executionId: string;
  status: number | null;
  error: string | null;
  durationMs: number;
  excerpt: string | null;
  /** The execution's new state and result. */
  state: string;
  result: string;
  /** The payload as sent, masked, when it differs from the one stored with the execution. */
  payloadMasked?: string;
}

/**
 * Records a group of attempts at `iso`: one multi-row INSERT into delivery_attempts and one UPDATE
 * of their executions (a CASE per column, the same SQL on both databases).
 */
export async function recordAttempts(
  db: Kysely<DB>,
  dialect: Dialect,
  rows: AttemptRow[],
  newId: () => string,
  iso: string,
): Promise<void> {
  if (rows.length === 0) return;
  const values: unknown[] = [];
  for (const r of rows)
    values.push(newId(), r.executionId, iso, r.status, r.error, Math.round(r.durationMs), r.excerpt);
  await run(
    db,
    dialect,
    `insert into delivery_attempts (id, execution_id, at, status, error, duration_ms, response_excerpt)
     values ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
    values,
  );
  const params: unknown[] = [];
  const caseOf = (column: string, only: AttemptRow[], pick: (r: AttemptRow) => string) => {
    for (const r of only) params.push(r.executionId, pick(r));
    const whens = only.map(() => 'when ? then ?').join(' ');
    return `${column} = case id ${whens}${only.length < rows.length ? ` else ${column}` : ''} end`;
  };
  const sets = [caseOf('state', rows, (r) => r.state), caseOf('result', rows, (r) => r.result)];
  const withPayload = rows.filter((r) => r.payloadMasked !== undefined);
  if (withPayload.length > 0) sets.push(caseOf('payload_masked', withPayload, (r) => r.payloadMasked!));
  params.push(iso, ...rows.map((r) => r.executionId));
  await run(
    db,
    dialect,
    `update executions set ${sets.join(', ')}, updated_at = ? where id in (${list(rows.length)})`,
    params,
  );
}

/** Releases every lease: only safe when this process is the sole worker (the SQLite default). */
export async function releaseAllLeases(store: Store): Promise<void> {
  await store.db
    .updateTable('deliveries')
    .set({ lease_owner: null, lease_until: null })
    .where('status', '=', 'pending')
    .where('lease_owner', 'is not', null)
    .execute();
}

/** Hands claimed jobs back unsent: lease dropped, the counted attempt refunded, due as before. */
export async function releaseDeliveries(db: Kysely<DB>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('deliveries')
    .set((eb) => ({
      lease_owner: null,
      lease_until: null,
      attempts: eb('attempts', '-', 1),
      updated_at: new Date().toISOString(),
    }))
    .where('id', 'in', ids)
    .where('status', '=', 'pending')
    .execute();
}

/** Marks jobs done (a 2xx was received): one statement for a batch. */
export async function completeDeliveries(
  db: Kysely<DB>,
  dialect: Dialect,
  ids: string[],
  iso: string,
): Promise<void> {
  if (ids.length === 0) return;
  await run(
    db,
    dialect,
    `update deliveries set status = 'done', lease_owner = null, lease_until = null, last_error = null,
     updated_at = ? where id in (${list(ids.length)})`,
    [iso, ...ids],
  );
}

export async function retryDelivery(
  db: Kysely<DB>,
  d: DeliveryRow,
  runAt: Date,
  error: string | null,
  refundAttempt = false,
) {
  await db
    .updateTable('deliveries')
    .set((eb) => ({
      run_at: runAt.toISOString(),
      lease_owner: null,
      lease_until: null,
      last_error: error,
      updated_at: new Date().toISOString(),
      ...(refundAttempt ? { attempts: eb('attempts', '-', 1) } : {}),
    }))
    .where('id', '=', d.id)
    .execute();
}

export async function failDelivery(db: Kysely<DB>, d: DeliveryRow, error: string) {
  await db
    .updateTable('deliveries')
    .set({
      status: 'failed',
      lease_owner: null,
      lease_until: null,
      last_error: error,
      updated_at: new Date().toISOString(),
    })
    .where('id', '=', d.id)
    .execute();
}
