import { EventEmitter } from 'node:events';

/**
 * In-process wake-ups between the pipeline's stages, so that a change reaches the next stage at once
 * instead of at its next poll:
 *
 * - `writes`: the API finished a request that may have committed a change and its event (the
 *   engine wakes up if idle);
 * - `deliveries`: the engine committed delivery jobs (the worker wakes up if idle).
 *
 * A signal carries no data and may be spurious; a stage that wakes finds nothing and goes back to
 * sleep. Polling stays as the fallback for what this process cannot see (other processes, other
 * nodes on PostgreSQL). Process-wide, so several servers in one process may wake each other: harmless.
 */
export type Topic = 'writes' | 'deliveries';

const bus = new EventEmitter();
bus.setMaxListeners(0);

export function signal(topic: Topic): void {
  bus.emit(topic);
}

/** Calls `fn` on every signal of `topic`; returns the unsubscribe function. */
export function onSignal(topic: Topic, fn: () => void): () => void {
  bus.on(topic, fn);
  return () => {
    bus.off(topic, fn);
  };
}
