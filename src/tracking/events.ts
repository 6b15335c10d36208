import type { Kysely } from 'kysely';
import type { EventDetails, LogEventType } from '../model/events.js';
import { type Dialect, lockEventLog } from '../store/db.js';
import type { DB } from '../store/schema.js';
import { now } from './util.js';

export interface NewEvent {
  type: LogEventType;
  teamId: string;
  projectId?: string | null;
  collection?: string | null;
  runId?: string | null;
  actorId?: string | null;
  details: EventDetails;
}

/** Appends events inside the caller's transaction, so a change and its event commit together. */
export async function appendEvents(trx: Kysely<DB>, dialect: Dialect, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await lockEventLog(trx, dialect);
  const at = now();
  await trx
    .insertInto('events')
    .values(
      events.map((e) => ({
        type: e.type,
        team_id: e.teamId,
        project_id: e.projectId ?? null,
        collection_name: e.collection ?? null,
        run_id: e.runId ?? null,
        actor_id: e.actorId ?? null,
        details: JSON.stringify(e.details),
        created_at: at,
      })),
    )
    .execute();
}
