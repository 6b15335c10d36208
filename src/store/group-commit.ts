import { CompiledQuery, type Kysely } from 'kysely';
import type { Store } from './db.js';
import type { DB } from './schema.js';

/** A unit of work that runs inside a write transaction and uses only `trx`. */
export type Work<T> = (trx: Kysely<DB>) => Promise<T>;

interface Pending {
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

// Fixed statements, compiled once (they run several times per group).
const BEGIN = CompiledQuery.raw('begin immediate');
const SAVEPOINT = CompiledQuery.raw('savepoint group_commit');
const ROLLBACK_TO = CompiledQuery.raw('rollback to group_commit');
const RELEASE = CompiledQuery.raw('release group_commit');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit on SQLite. Every commit is an fsync (synchronous=FULL) that blocks the one
 * connection, so writes that arrive while a transaction runs are committed together in the next
 * one: one fsync for several requests.
 *
 * - Each unit of work runs in a SAVEPOINT of its own: one that throws is rolled back alone and gets
 *   its own error; the others go on.
 * - A unit's promise settles only after the transaction has committed (or failed to: then every
 *   unit of the group gets the error, as none of it is stored).
 * - Units run one after the other in arrival order, each seeing the writes of those before it.
 *
 * A group is whatever has queued up by the time the connection is ours: the first write waits one
 * turn of the event loop (setImmediate), so requests parsed in the same turn join it; writes that
 * arrive during a transaction form the next group.
 */
class GroupCommitter {
  private queue: Pending[] = [];
  private active = false;

  constructor(private readonly db: Kysely<DB>) {}

  run<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.active) {
        this.active = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.commitGroup();
    this.active = false;
  }

  private async commitGroup(): Promise<void> {
    let group: Pending[] = [];
    const outcomes: Outcome[] = [];
    try {
      await this.db.connection().execute(async (conn) => {
        // IMMEDIATE: take the write lock now (waiting up to busy_timeout for another process)
        // rather than fail on upgrading a read snapshot that another writer has overtaken.
        await conn.executeQuery(BEGIN);
        try {
          group = this.queue.splice(0);
          for (const unit of group) {
            await conn.executeQuery(SAVEPOINT);
            try {
              outcomes.push({ ok: true, value: await unit.work(conn) });
            } catch (error) {
              await conn.executeQuery(ROLLBACK_TO);
              outcomes.push({ ok: false, error });
            }
            await conn.executeQuery(RELEASE);
          }
          await conn.executeQuery(COMMIT);
        } catch (error) {
          // SQLite may have rolled back already (e.g. on an I/O error): then this one fails too.
          await conn.executeQuery(ROLLBACK).catch(() => {});
          throw error;
        }
      });
    } catch (error) {
      // BEGIN, a savepoint rollback or COMMIT failed: nothing of the group is stored.
      if (group.length === 0) group = this.queue.splice(0);
      for (const unit of group) unit.reject(error);
      return;
    }
    group.forEach((unit, i) => {
      const o = outcomes[i];
      if (o.ok) unit.resolve(o.value);
      else unit.reject(o.error);
    });
  }
}

const committers = new WeakMap<Kysely<DB>, GroupCommitter>();

/**
 * Runs `work` in a write transaction and resolves once it has committed. On SQLite concurrent
 * calls share transactions (group commit, see GroupCommitter); on PostgreSQL, which commits
 * concurrent transactions in parallel, each call is a transaction of its own.
 *
 * `work` must use only `trx` (never `store.db`) and should not wait on anything but the database:
 * other requests' writes wait for it.
 */
export function writeTransaction<T>(store: Store, work: Work<T>): Promise<T> {
  if (store.dialect !== 'sqlite') return store.db.transaction().execute(work);
  let committer = committers.get(store.db);
  if (!committer) {
    committer = new GroupCommitter(store.db);
    committers.set(store.db, committer);
  }
  return committer.run(work);
}
