import type { Store } from '../store/db.js';
import type { DB } from '../store/schema.js';

/**
 * The delivery queue: one row per job in `deliveries`. A job is claimed by setting a lease; a lease
 * that expires (a worker died mid-send) makes the job claimable again, so delivery is at-least-once.
 * Each operation is one small function with its SQL in view.
 */
export type DeliveryRow = DB['deliveries'];

/** Claims up to `n` due jobs for `owner`, counting the attempt. PostgreSQL skips rows others hold. */
export async function claimDeliveries(
  store: Store,
  owner: string,
  n: number,
  leaseMs: number,
): Promise<DeliveryRow[]> {
  if (n <= 0) return [];
  const now = new Date();
  const iso = now.toISOString();
  const until = new Date(now.getTime() + leaseMs).toISOString();
  return store.db.transaction().execute(async (trx) => {
    let due = trx
      .selectFrom('deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('run_at', '<=', iso)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', iso)]))
      .orderBy('run_at')
      .limit(n);
    if (store.dialect === 'postgres') due = due.forUpdate().skipLocked();
    const ids = (await due.execute()).map((r) => r.id);
    if (ids.length === 0) return [];
    return trx
      .updateTable('deliveries')
      .set((eb) => ({
        lease_owner: owner,
        lease_until: until,
        attempts: eb('attempts', '+', 1),
        updated_at: iso,
      }))
      .where('id', 'in', ids)
      .returningAll()
      .execute();
  });
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

export async function completeDelivery(store: Store, d: DeliveryRow) {
  await store.db
    .updateTable('deliveries')
    .set({
      status: 'done',
      lease_owner: null,
      lease_until: null,
      last_error: null,
      updated_at: new Date().toISOString(),
    })
    .where('id', '=', d.id)
    .execute();
}

export async function retryDelivery(
  store: Store,
  d: DeliveryRow,
  runAt: Date,
  error: string,
  refundAttempt = false,
) {
  await store.db
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

export async function failDelivery(store: Store, d: DeliveryRow, error: string) {
  await store.db
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
