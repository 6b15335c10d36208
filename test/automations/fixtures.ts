import pino from 'pino';
import { createAutomation, getAutomation } from '../../src/automations/commands.js';
import { type Engine, startEngine } from '../../src/engine/loop.js';
import type { Store } from '../../src/store/db.js';
import type { Actor } from '../../src/tracking/context.js';
import { createProject, getProject, type ProjectRef } from '../../src/tracking/projects.js';
import { appendMetrics, createRun, parseHistoryRows } from '../../src/tracking/runs.js';
import { createTeam, setMember } from '../../src/tracking/teams.js';
import { createUser } from '../../src/tracking/users.js';

export const silent = pino({ level: 'silent' });

/** An engine that only works when drained (its background poll is an hour away). */
export function drainOnlyEngine(store: Store): Engine {
  return startEngine(store, { logger: silent, background: false });
}

export async function user(store: Store, name: string): Promise<Actor> {
  return (await createUser(store, name)).user;
}

/** A team with projects and registries, owned by `owner`; `members` join as members. */
export async function team(
  store: Store,
  owner: Actor,
  name: string,
  opts: { projects?: string[]; registries?: string[]; members?: Actor[] } = {},
) {
  await createTeam(store, owner, name);
  const projects: Record<string, ProjectRef> = {};
  for (const p of opts.projects ?? []) {
    await createProject(store, owner, name, p, 'project');
    projects[p] = await getProject(store, owner, name, p, 'project');
  }
  const registries: Record<string, ProjectRef> = {};
  for (const r of opts.registries ?? []) {
    await createProject(store, owner, name, r, 'registry');
    registries[r] = await getProject(store, owner, name, r, 'registry');
  }
  for (const m of opts.members ?? []) await setMember(store, owner, name, m.username, 'member');
  return { name, projects, registries };
}

/** Creates an automation with NO_OP and no rate limit unless the body says otherwise. */
export async function automation(store: Store, actor: Actor, body: Record<string, unknown>) {
  return createAutomation(store, actor, { action: { type: 'NO_OP' }, rateLimitPerHour: 0, ...body });
}

export async function logRows(
  store: Store,
  actor: Actor,
  p: ProjectRef,
  run: string,
  rows: Array<Record<string, unknown>>,
  table: 'history' | 'system' = 'history',
) {
  return appendMetrics(store, actor, p, run, parseHistoryRows(rows), table);
}

export async function newRun(store: Store, actor: Actor, p: ProjectRef, id: string, displayName?: string) {
  return createRun(store, actor, p, { id, displayName });
}

export interface ExecRow {
  automation: string;
  position: number;
  event: { type: string; details: Record<string, any> };
}

/** Every execution, oldest event first, with its automation's name. */
export async function executions(store: Store): Promise<ExecRow[]> {
  const rows = await store.db
    .selectFrom('executions')
    .select(['automation_name', 'event_position', 'event'])
    .orderBy('event_position')
    .orderBy('automation_name')
    .execute();
  return rows.map((r) => ({
    automation: r.automation_name,
    position: Number(r.event_position),
    event: JSON.parse(r.event),
  }));
}

export async function countByAutomation(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const e of await executions(store)) out[e.automation] = (out[e.automation] ?? 0) + 1;
  return out;
}

export async function suppressedCount(store: Store, actor: Actor, id: string): Promise<number> {
  return (await getAutomation(store, actor, id)).suppressedCount;
}
