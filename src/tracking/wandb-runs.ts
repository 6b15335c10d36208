import type { Kysely } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../model/errors.js';
import { checkName } from '../model/names.js';
import type { DB, RunState } from '../store/schema.js';
import type { Actor, Ctx } from './context.js';
import { appendEvents } from './events.js';
import { getOrCreateProject, getProject, type ProjectRef } from './projects.js';
import {
  applyToSummary,
  createRun,
  decodeValues,
  encodeValue,
  metricsAppendedEvent,
  transitionRun,
  writeMetricRows,
} from './runs.js';
import { now, parseJson } from './util.js';

/**
 * Run operations as W&B's clients perform them: UpsertBucket (create or update a run by name,
 * creating the project on first use) and the file_stream (history, summary, system metrics and the
 * final exit code, made idempotent by per-file line offsets kept in `runs.stream_offsets`).
 */

export const HISTORY_FILE = 'wandb-history.jsonl';
export const SUMMARY_FILE = 'wandb-summary.json';
export const EVENTS_FILE = 'wandb-events.jsonl';
/** W&B's project when the client names none. */
export const DEFAULT_PROJECT = 'uncategorized';

type RunRow = DB['runs'] & { author: string };

async function loadRunForUpdate(
  trx: Kysely<DB>,
  dialect: Ctx['dialect'],
  projectId: string,
  runName: string,
): Promise<RunRow | undefined> {
  // PostgreSQL: lock the run row so concurrent posts for one run serialise on its offsets.
  // SQLite: Kysely runs transactions on its single connection one at a time already.
  return trx
    .selectFrom('runs')
    .innerJoin('users', 'users.id', 'runs.user_id')
    .selectAll('runs')
    .select('users.username as author')
    .where('runs.project_id', '=', projectId)
    .where('runs.name', '=', runName)
    .$if(dialect === 'postgres', (q) => q.forUpdate('runs'))
    .executeTakeFirst();
}

export interface WandbRun {
  /** Internal id (W&B's storage id). */
  storageId: string;
  name: string;
  displayName: string;
  state: RunState;
  config: Record<string, unknown>;
  tags: string[];
  summary: Record<string, unknown>;
  streamOffsets: Record<string, number>;
  project: ProjectRef;
}

function toWandbRun(p: ProjectRef, r: DB['runs']): WandbRun {
  return {
    storageId: r.id,
    name: r.name,
    displayName: r.display_name,
    state: r.state,
    config: parseJson(r.config, {}),
    tags: parseJson(r.tags, []),
    summary: decodeValues(parseJson(r.summary, {})),
    streamOffsets: parseJson(r.stream_offsets, {}),
    project: p,
  };
}

export async function findWandbRun(ctx: Ctx, actor: Actor, team: string, project: string, runName: string) {
  let p: ProjectRef;
  try {
    p = await getProject(ctx, actor, team, project, 'project');
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  const row = await ctx.db
    .selectFrom('runs')
    .selectAll()
    .where('project_id', '=', p.id)
    .where('name', '=', runName)
    .executeTakeFirst();
  return row ? toWandbRun(p, row) : undefined;
}

/** Parses a JSONString argument into an object (NaN/Infinity tokens allowed, as Python writes them). */
export function parseJsonObjectString(text: unknown, field: string): Record<string, unknown> | undefined {
  if (text === undefined || text === null) return undefined;
  if (typeof text !== 'string') throw new ValidationError(`${field} must be a JSON string`, field);
  let v: unknown;
  try {
    v = parseLenientJson(text);
  } catch (err) {
    throw new ValidationError(`${field} is not valid JSON: ${(err as Error).message}`, field);
  }
  if (v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v))
    throw new ValidationError(`${field} must encode a JSON object`, field);
  return v as Record<string, unknown>;
}

/**
 * W&B's Python client sends config as `{"key": {"value": v, "desc": null}}`; the JavaScript client
 * sends it plain. Both are stored plain, like config posted to the REST API.
 */
export function unwrapConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    const isWrapped =
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      'value' in v &&
      Object.keys(v).every((x) => x === 'value' || x === 'desc');
    out[k] = isWrapped ? (v as { value: unknown }).value : v;
  }
  return out;
}

const WANDB_STATES: Record<string, RunState> = {
  running: 'RUNNING',
  finished: 'FINISHED',
  failed: 'FAILED',
  crashed: 'CRASHED',
  killed: 'KILLED',
};

export interface UpsertBucketInput {
  name?: string | null;
  project?: string | null;
  entity?: string | null;
  displayName?: string | null;
  config?: string | null;
  tags?: string[] | null;
  summaryMetrics?: string | null;
  state?: string | null;
}

/**
 * UpsertBucket: creates the run (and the project on first use) or updates the fields given.
 * A `state` moves the run through the state machine (so a RUN_STATE event is recorded); W&B's
 * transitional states (pending, preempting, …) are ignored.
 */
export async function upsertWandbRun(
  ctx: Ctx,
  actor: Actor,
  input: UpsertBucketInput,
): Promise<{ run: WandbRun; inserted: boolean }> {
  const team = input.entity || actor.username;
  const projectName = checkName(input.project || DEFAULT_PROJECT, 'project');
  const rawConfig = parseJsonObjectString(input.config, 'config');
  const config = rawConfig && unwrapConfig(rawConfig);
  const summary = parseJsonObjectString(input.summaryMetrics, 'summaryMetrics');
  let state: RunState | undefined;
  if (input.state) {
    if (typeof input.state !== 'string') throw new ValidationError('state must be a string', 'state');
    state = WANDB_STATES[input.state.toLowerCase()];
  }
  const p = await getOrCreateProject(ctx, actor, team, projectName);

  let inserted = false;
  if (input.name) {
    const existing = await findWandbRun(ctx, actor, p.teamName, p.name, input.name);
    if (!existing) {
      try {
        await createRun(ctx, actor, p, {
          id: input.name,
          displayName: input.displayName ?? undefined,
          config,
          tags: input.tags ?? undefined,
        });
        inserted = true;
      } catch (err) {
        // A concurrent upsert created it first: fall through to the update.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  } else {
    const created = await createRun(ctx, actor, p, {
      displayName: input.displayName ?? undefined,
      config,
      tags: input.tags ?? undefined,
    });
    input = { ...input, name: created.id };
    inserted = true;
  }
  const name = input.name as string;

  const set: Partial<DB['runs']> = {};
  if (!inserted) {
    if (config) set.config = JSON.stringify(config);
    if (input.tags) {
      if (input.tags.some((t) => typeof t !== 'string' || t.length === 0 || t.length > 128)) {
        throw new ValidationError('tags must be non-empty strings (≤128 characters)', 'tags');
      }
      set.tags = JSON.stringify([...new Set(input.tags)]);
    }
    if (input.displayName) {
      if (input.displayName.length > 256) {
        throw new ValidationError('displayName must be at most 256 characters', 'displayName');
      }
      set.display_name = input.displayName;
    }
  }
  if (summary || Object.keys(set).length > 0) {
    await ctx.db.transaction().execute(async (trx) => {
      const run = await loadRunForUpdate(trx, ctx.dialect, p.id, name);
      if (!run) throw new NotFoundError(`run "${name}" not found in ${p.teamName}/${p.name}`);
      if (summary) set.summary = JSON.stringify({ ...parseJson(run.summary, {}), ...encodeTop(summary) });
      await trx
        .updateTable('runs')
        .set({ ...set, updated_at: now() })
        .where('id', '=', run.id)
        .execute();
    });
  }
  if (state) {
    const current = await findWandbRun(ctx, actor, p.teamName, p.name, name);
    if (current && current.state !== state) await transitionRun(ctx, actor, p, name, state);
  }
  const run = await findWandbRun(ctx, actor, p.teamName, p.name, name);
  if (!run) throw new NotFoundError(`run "${name}" not found in ${p.teamName}/${p.name}`);
  return { run, inserted };
}

function encodeTop(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = encodeValue(v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON with NaN / Infinity / -Infinity, as Python's json.dumps (and W&B's Go core) write them.

const NON_FINITE_MARK = '\u0000tripline-nonfinite:';
const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Infinity, '-Infinity': -Infinity };

/**
 * JSON.parse, plus the bare tokens NaN, Infinity and -Infinity where a value may stand. The fast
 * path is plain JSON.parse; only a line that fails and mentions one of the tokens is rescanned,
 * outside string literals, so a string such as "NaN loss" is left alone.
 */
export function parseLenientJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!text.includes('NaN') && !text.includes('Infinity')) throw err;
  }
  let out = '';
  let i = 0;
  let inString = false;
  while (i < text.length) {
    const ch = text[i];
    if (inString) {
      out += ch;
      if (ch === '\\') {
        out += text[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (ch === '"') inString = false;
      i++;
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
      i++;
      continue;
    }
    const token = text.startsWith('NaN', i)
      ? 'NaN'
      : text.startsWith('-Infinity', i)
        ? '-Infinity'
        : text.startsWith('Infinity', i)
          ? 'Infinity'
          : undefined;
    if (token) {
      // A marker string that JSON.parse turns back into the number in the reviver below.
      out += JSON.stringify(NON_FINITE_MARK + token);
      i += token.length;
      continue;
    }
    out += ch;
    i++;
  }
  return JSON.parse(out, (_k, v) =>
    typeof v === 'string' && v.startsWith(NON_FINITE_MARK) ? NON_FINITE[v.slice(NON_FINITE_MARK.length)] : v,
  );
}

// ---------------------------------------------------------------------------------------------
// file_stream

export interface StreamFile {
  offset: number;
  content: string[];
}

export interface StreamRow {
  step?: number;
  values: Record<string, unknown>;
}

/** A validated file_stream body: every line parsed before anything is written. */
export interface StreamChunk {
  history?: { offset: number; rows: StreamRow[] };
  events?: { offset: number; rows: StreamRow[] };
  summary?: Record<string, unknown>;
  complete?: { exitcode: number };
}

export interface StreamResult {
  historyRows: number;
  systemRows: number;
  duplicateLines: number;
  state: RunState;
}

/**
 * Applies one file_stream post in one transaction: new history lines (by `_step`), new events
 * lines (as system metrics, keyed by line number), the summary, and the advanced offsets. Lines
 * below the stored offset of their file were applied before and are skipped, so a resent chunk
 * changes nothing. Then `complete` moves the run to FINISHED (exit code 0) or FAILED.
 */
export async function applyFileStream(
  ctx: Ctx,
  actor: Actor,
  team: string,
  project: string,
  runName: string,
  chunk: StreamChunk,
): Promise<StreamResult> {
  const p = await getProject(ctx, actor, team, project, 'project');
  const result = await ctx.db.transaction().execute(async (trx) => {
    const run = await loadRunForUpdate(trx, ctx.dialect, p.id, runName);
    if (!run) throw new NotFoundError(`run "${runName}" not found in ${p.teamName}/${p.name}`);
    const offsets = parseJson<Record<string, number>>(run.stream_offsets, {});
    let duplicateLines = 0;
    const fresh = (file: string, part: { offset: number; rows: StreamRow[] } | undefined) => {
      if (!part) return [];
      const stored = offsets[file] ?? 0;
      const skip = Math.min(part.rows.length, Math.max(0, stored - part.offset));
      duplicateLines += skip;
      offsets[file] = Math.max(stored, part.offset + part.rows.length);
      return part.rows.slice(skip);
    };
    const history = fresh(HISTORY_FILE, chunk.history);
    const system = fresh(EVENTS_FILE, chunk.events);
    if ((history.length > 0 || system.length > 0) && run.state !== 'RUNNING') {
      throw new ConflictError(
        `run "${runName}" is ${run.state}; resume it (state RUNNING) to log more`,
        'state',
      );
    }

    const summary = parseJson<Record<string, unknown>>(run.summary, {});
    const events: Parameters<typeof appendEvents>[2] = [];
    for (const [table, rows] of [
      ['history', history],
      ['system', system],
    ] as const) {
      if (rows.length === 0) continue;
      const written = await writeMetricRows(trx, run.id, rows, table);
      // Same summary rule and the same event as appendMetrics (REST), so the engine cannot tell them apart.
      applyToSummary(summary, table, written);
      events.push(metricsAppendedEvent(p, run, actor, table, written));
    }
    // The client's summary is the whole summary as it sees it: it wins over values from rows.
    if (chunk.summary) Object.assign(summary, encodeTop(chunk.summary));

    const offsetsText = JSON.stringify(offsets);
    const summaryText = JSON.stringify(summary);
    if (offsetsText !== run.stream_offsets || summaryText !== run.summary) {
      await trx
        .updateTable('runs')
        .set({ summary: summaryText, stream_offsets: offsetsText, updated_at: now() })
        .where('id', '=', run.id)
        .execute();
    }
    await appendEvents(trx, ctx.dialect, events);
    return { historyRows: history.length, systemRows: system.length, duplicateLines, state: run.state };
  });

  if (chunk.complete) {
    const target: RunState = chunk.complete.exitcode === 0 ? 'FINISHED' : 'FAILED';
    if (result.state !== target) {
      try {
        result.state = (await transitionRun(ctx, actor, p, runName, target)).state;
      } catch (err) {
        // Already final in another state (e.g. KILLED from the API): the client's word does not undo it.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }
  return result;
}

/** W&B's system metrics rows say `system.cpu`; Tripline's metric names say `system/cpu`. */
export function systemMetricName(key: string): string {
  return key.startsWith('system.') ? `system/${key.slice('system.'.length)}` : key;
}
