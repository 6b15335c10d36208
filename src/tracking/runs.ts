import { type Compilable, CompiledQuery, type Kysely, sql } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../model/errors.js';
import { METRICS_APPENDED } from '../model/events.js';
import { FINAL_STATES, RUN_STATES } from '../model/names.js';
import type { Dialect } from '../store/db.js';
import { writeTransaction } from '../store/group-commit.js';
import type { DB, RunState } from '../store/schema.js';
import type { Actor, Ctx } from './context.js';
import { appendEvents, type NewEvent } from './events.js';
import { getProject, type ProjectRef } from './projects.js';
import { isUniqueViolation, newId, now, parseJson } from './util.js';

const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const MAX_ROWS_PER_BATCH = 10_000;

export interface RunView {
  id: string;
  displayName: string;
  state: RunState;
  author: string;
  config: Record<string, unknown>;
  tags: string[];
  summary: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

type RunRow = DB['runs'] & { author: string };

function view(r: RunRow): RunView {
  return {
    id: r.name,
    displayName: r.display_name,
    state: r.state,
    author: r.author,
    config: parseJson(r.config, {}),
    tags: parseJson(r.tags, []),
    summary: decodeValues(parseJson(r.summary, {})),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** JSON cannot carry NaN/±Infinity: they are stored as these strings and decoded as numbers. */
const SPECIAL: Record<string, number> = { NaN: Number.NaN, Infinity: Infinity, '-Infinity': -Infinity };
export function encodeValue(v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}
export function decodeValues(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'string' && v in SPECIAL ? SPECIAL[v] : v;
  return out;
}

async function loadRun(db: Kysely<DB>, projectId: string, runName: string): Promise<RunRow | undefined> {
  return db
    .selectFrom('runs')
    .innerJoin('users', 'users.id', 'runs.user_id')
    .selectAll('runs')
    .select('users.username as author')
    .where('runs.project_id', '=', projectId)
    .where('runs.name', '=', runName)
    .executeTakeFirst();
}

export async function resolveRun(ctx: Ctx, actor: Actor, team: string, project: string, run: string) {
  const p = await getProject(ctx, actor, team, project, 'project');
  const row = await loadRun(ctx.db, p.id, run);
  if (!row) throw new NotFoundError(`run "${run}" not found in ${p.teamName}/${p.name}`);
  return { project: p, run: row };
}

function checkObject(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new ValidationError(`${field} must be a JSON object`, field);
  return v as Record<string, unknown>;
}

function checkTags(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((t) => typeof t !== 'string' || t.length === 0 || t.length > 128)) {
    throw new ValidationError('tags must be an array of non-empty strings (≤128 characters)', 'tags');
  }
  return [...new Set(v as string[])];
}

export interface CreateRunInput {
  id?: unknown;
  displayName?: unknown;
  config?: unknown;
  tags?: unknown;
}

export async function createRun(
  ctx: Ctx,
  actor: Actor,
  p: ProjectRef,
  input: CreateRunInput,
): Promise<RunView> {
  const name = input.id === undefined ? newId().replace(/-/g, '').slice(0, 12) : input.id;
  if (typeof name !== 'string' || !RUN_NAME.test(name)) {
    throw new ValidationError("id must be 1-128 characters: letters, digits, '_', '-', '.'", 'id');
  }
  if (
    input.displayName !== undefined &&
    (typeof input.displayName !== 'string' || input.displayName.length > 256)
  ) {
    throw new ValidationError('displayName must be a string of at most 256 characters', 'displayName');
  }
  const config = checkObject(input.config, 'config');
  const tags = checkTags(input.tags);
  const at = now();
  const row = {
    id: newId(),
    project_id: p.id,
    name,
    display_name: (input.displayName as string | undefined) || name,
    user_id: actor.id,
    state: 'RUNNING' as const,
    config: JSON.stringify(config),
    tags: JSON.stringify(tags),
    summary: '{}',
    stream_offsets: '{}',
    created_at: at,
    updated_at: at,
  };
  try {
    await ctx.db.transaction().execute(async (trx) => {
      await trx.insertInto('runs').values(row).execute();
      await appendEvents(trx, ctx.dialect, [
        {
          type: 'RUN_STATE',
          teamId: p.teamId,
          projectId: p.id,
          runId: row.id,
          actorId: actor.id,
          details: runDetails(p, row, actor.username, null, 'RUNNING'),
        },
      ]);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`run "${name}" already exists in ${p.name}`, 'id');
    throw err;
  }
  return view({ ...row, author: actor.username });
}

function runDetails(
  p: ProjectRef,
  run: { name: string; display_name: string },
  author: string,
  oldState: string | null,
  newState: string,
) {
  return {
    team: p.teamName,
    project: p.name,
    projectKind: 'project' as const,
    author,
    runId: run.name,
    runName: run.display_name,
    runAuthor: author,
    oldState,
    newState,
    runState: newState,
  };
}

export async function getRunView(ctx: Ctx, actor: Actor, team: string, project: string, run: string) {
  return view((await resolveRun(ctx, actor, team, project, run)).run);
}

export async function listRuns(
  ctx: Ctx,
  actor: Actor,
  team: string,
  project: string,
  page: { cursor?: string; limit: number },
) {
  const p = await getProject(ctx, actor, team, project, 'project');
  let q = ctx.db
    .selectFrom('runs')
    .innerJoin('users', 'users.id', 'runs.user_id')
    .selectAll('runs')
    .select('users.username as author')
    .where('runs.project_id', '=', p.id)
    .orderBy('runs.created_at', 'desc')
    .orderBy('runs.id', 'desc')
    .limit(page.limit + 1);
  if (page.cursor) {
    const [at, id] = decodeCursor(page.cursor);
    q = q.where((eb) =>
      eb.or([
        eb('runs.created_at', '<', at),
        eb.and([eb('runs.created_at', '=', at), eb('runs.id', '<', id)]),
      ]),
    );
  }
  const rows = await q.execute();
  const more = rows.length > page.limit;
  const slice = rows.slice(0, page.limit);
  const last = slice[slice.length - 1];
  return { items: slice.map(view), nextCursor: more ? encodeCursor(last.created_at, last.id) : null };
}

export const encodeCursor = (...parts: string[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
export function decodeCursor(c: string): string[] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString());
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {}
  throw new ValidationError('cursor is not valid; use nextCursor from the previous page', 'cursor');
}

/**
 * Run state machine: RUNNING → FINISHED | FAILED | CRASHED | KILLED. A final state only goes back
 * to RUNNING (W&B's resume). Setting the current state again changes nothing and emits nothing.
 */
export async function setRunState(
  ctx: Ctx,
  actor: Actor,
  team: string,
  project: string,
  runName: string,
  state: unknown,
) {
  if (typeof state !== 'string' || !(RUN_STATES as readonly string[]).includes(state)) {
    throw new ValidationError(`state must be one of ${RUN_STATES.join(', ')}`, 'state');
  }
  const p = await getProject(ctx, actor, team, project, 'project');
  return transitionRun(ctx, actor, p, runName, state as RunState);
}

export async function transitionRun(ctx: Ctx, actor: Actor, p: ProjectRef, runName: string, state: RunState) {
  return ctx.db.transaction().execute(async (trx) => {
    const run = await loadRun(trx, p.id, runName);
    if (!run) throw new NotFoundError(`run "${runName}" not found in ${p.teamName}/${p.name}`);
    if (run.state === state) return view(run);
    if (FINAL_STATES.has(run.state) && state !== 'RUNNING') {
      throw new ConflictError(
        `run "${runName}" is ${run.state}; only a resume (RUNNING) may follow`,
        'state',
      );
    }
    const at = now();
    await trx.updateTable('runs').set({ state, updated_at: at }).where('id', '=', run.id).execute();
    await appendEvents(trx, ctx.dialect, [
      {
        type: 'RUN_STATE',
        teamId: p.teamId,
        projectId: p.id,
        runId: run.id,
        actorId: actor.id,
        details: runDetails(p, run, run.author, run.state, state),
      },
    ]);
    return view({ ...run, state, updated_at: at });
  });
}

export interface HistoryRow {
  step: number;
  values: Record<string, unknown>;
}

/** Validates `{rows:[{_step, metric: value, …}]}`; rows without `_step` continue after the last step. */
export function parseHistoryRows(
  rows: unknown,
  field = 'rows',
): Array<{ step?: number; values: Record<string, unknown> }> {
  if (!Array.isArray(rows)) throw new ValidationError(`${field} must be an array of objects`, field);
  if (rows.length === 0) throw new ValidationError(`${field} must not be empty`, field);
  if (rows.length > MAX_ROWS_PER_BATCH) {
    throw new ValidationError(
      `${field} has ${rows.length} rows; send at most ${MAX_ROWS_PER_BATCH} per request`,
      field,
    );
  }
  const out = new Array<{ step?: number; values: Record<string, unknown> }>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      throw new ValidationError(`${field}[${i}] must be an object`, `${field}[${i}]`);
    }
    const step = r._step;
    if (
      step !== undefined &&
      (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > 2 ** 31 - 1)
    ) {
      throw new ValidationError(
        `${field}[${i}]._step must be a non-negative integer`,
        `${field}[${i}]._step`,
      );
    }
    // One pass, no intermediate objects: this runs for every row of every batch.
    const values: Record<string, unknown> = {};
    for (const k of Object.keys(r)) {
      if (k === '_step') continue;
      if (k.length === 0 || k.length > 256) {
        throw new ValidationError(
          `${field}[${i}] has a metric name that is empty or too long`,
          `${field}[${i}]`,
        );
      }
      const v = r[k];
      values[k] = typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
    }
    out[i] = { step: step as number | undefined, values };
  }
  return out;
}

/**
 * Appends metric history (or system metrics) to a running run, merges repeated steps, updates the
 * summary with the latest values and records one compact METRICS_APPENDED event for the batch.
 */
export async function appendMetrics(
  ctx: Ctx,
  actor: Actor,
  p: ProjectRef,
  runName: string,
  input: Array<{ step?: number; values: Record<string, unknown> }>,
  table: 'history' | 'system' = 'history',
) {
  // Concurrent appends share a commit on SQLite; each still gets its own result or error, and only
  // once its rows and event are committed.
  return writeTransaction(ctx, async (trx) => {
    const run = await loadRunForAppend(trx, ctx.dialect, p.id, runName, table);
    if (!run) throw new NotFoundError(`run "${runName}" not found in ${p.teamName}/${p.name}`);
    if (run.state !== 'RUNNING') {
      throw new ConflictError(
        `run "${runName}" is ${run.state}; resume it (state RUNNING) to log more`,
        'state',
      );
    }
    const result = await writeMetricRows(trx, run.id, input, table, run.max_step);
    const summary = parseJson<Record<string, unknown>>(run.summary, {});
    applyToSummary(summary, table, result);
    const update = compiledSql(trx, 'run summary', 3, (param) =>
      trx
        .updateTable('runs')
        .set({ summary: param(0), updated_at: param(1) })
        .where('id', '=', param(2)),
    );
    await trx.executeQuery(CompiledQuery.raw(update, [JSON.stringify(summary), now(), run.id]));
    await appendEvents(trx, ctx.dialect, [metricsAppendedEvent(p, run, actor, table, result)]);
    return { count: result.rows.length, fromStep: result.fromStep, toStep: result.toStep };
  });
}

interface RunForAppend {
  id: string;
  name: string;
  display_name: string;
  state: RunState;
  summary: string;
  author: string;
  max_step: number | null;
}

/**
 * The run an append needs (no config or tags) and the last step of `table` it has, in one query.
 * On PostgreSQL the run row is locked, so concurrent appends to one run merge their summaries in
 * turn instead of one overwriting the other (SQLite has a single writer already).
 */
async function loadRunForAppend(
  trx: Kysely<DB>,
  dialect: Dialect,
  projectId: string,
  runName: string,
  table: 'history' | 'system',
): Promise<RunForAppend | undefined> {
  const text = compiledSql(trx, `run for append ${table}`, 2, (param) =>
    trx
      .selectFrom('runs')
      .innerJoin('users', 'users.id', 'runs.user_id')
      .select(['runs.id', 'runs.name', 'runs.display_name', 'runs.state', 'runs.summary'])
      .select([
        'users.username as author',
        (table === 'history'
          ? sql<number | null>`(select max(step) from run_history where run_history.run_id = runs.id)`
          : sql<number | null>`(select max(seq) from run_system where run_system.run_id = runs.id)`
        ).as('max_step'),
      ])
      .where('runs.project_id', '=', param(0))
      .where('runs.name', '=', param(1))
      .$if(dialect === 'postgres', (q) => q.forUpdate('runs')),
  );
  const { rows } = await trx.executeQuery<RunForAppend>(CompiledQuery.raw(text, [projectId, runName]));
  return rows[0];
}

/** W&B's summary rule: the latest value of every key; `_step` follows the history. */
export function applyToSummary(
  summary: Record<string, unknown>,
  table: 'history' | 'system',
  written: Awaited<ReturnType<typeof writeMetricRows>>,
) {
  for (const r of written.rows) Object.assign(summary, r.values);
  if (table === 'history') summary._step = written.toStep;
}

/** The compact record of one metrics batch that the engine consumes (whatever the client). */
export function metricsAppendedEvent(
  p: ProjectRef,
  run: { id: string; name: string; display_name: string; author: string; state: string },
  actor: Actor,
  table: 'history' | 'system',
  written: Awaited<ReturnType<typeof writeMetricRows>>,
): NewEvent {
  return {
    type: METRICS_APPENDED,
    teamId: p.teamId,
    projectId: p.id,
    runId: run.id,
    actorId: actor.id,
    details: {
      team: p.teamName,
      project: p.name,
      projectKind: 'project',
      author: run.author,
      runId: run.name,
      runName: run.display_name,
      runAuthor: run.author,
      runState: run.state,
      table,
      fromStep: written.fromStep,
      toStep: written.toStep,
      count: written.rows.length,
      metrics: written.metrics,
    },
  };
}

/**
 * SQL text compiled once per dialect and key. The ingest path runs the same few statements for
 * every batch; Kysely's builder would rebuild and recompile each (for the history upsert, 300
 * value nodes a batch), which costs more than running them. `build` gets sentinel parameters and
 * must use each once; the text is run with the real values in the same order (checked here).
 */
const compiledSqlCache = new WeakMap<object, Map<string, string>>();
function compiledSql(
  trx: Kysely<DB>,
  key: string,
  params: number,
  build: (param: (i: number) => string) => Compilable,
): string {
  const adapter = trx.getExecutor().adapter; // one per dialect instance: placeholders differ
  let cache = compiledSqlCache.get(adapter);
  if (!cache) {
    cache = new Map();
    compiledSqlCache.set(adapter, cache);
  }
  let text = cache.get(key);
  if (text === undefined) {
    const sentinel = (i: number) => `\u0000param${i}`;
    const compiled = build(sentinel).compile();
    const expected = Array.from({ length: params }, (_, i) => sentinel(i));
    if (JSON.stringify(compiled.parameters) !== JSON.stringify(expected)) {
      throw new Error(`compiledSql(${key}): parameters are not in the expected order`);
    }
    text = compiled.sql;
    cache.set(key, text);
  }
  return text;
}

/** The multi-row upsert of `n` rows: parameters run_id, step, data for each row in turn. */
function upsertSql(trx: Kysely<DB>, tableName: 'run_history' | 'run_system', col: 'step' | 'seq', n: number) {
  return compiledSql(trx, `upsert ${tableName} ${n}`, n * 3, (param) =>
    trx
      .insertInto(tableName)
      .values(
        Array.from(
          { length: n },
          (_, i) => ({ run_id: param(i * 3), [col]: param(i * 3 + 1), data: param(i * 3 + 2) }) as any,
        ),
      )
      .onConflict((oc) =>
        oc.columns(['run_id', col] as any).doUpdateSet({ data: (eb: any) => eb.ref('excluded.data') }),
      ),
  );
}

export async function writeMetricRows(
  trx: Kysely<DB>,
  runId: string,
  input: Array<{ step?: number; values: Record<string, unknown> }>,
  table: 'history' | 'system',
  /** The run's last stored step in `table` (null: none), when the caller has read it already. */
  lastStep?: number | null,
) {
  const tableName = table === 'history' ? 'run_history' : 'run_system';
  const col = table === 'history' ? 'step' : 'seq';
  const max =
    lastStep !== undefined
      ? { m: lastStep }
      : await trx
          .selectFrom(tableName)
          .select((eb) => eb.fn.max<number>(col as 'step').as('m'))
          .where('run_id', '=', runId)
          .executeTakeFirst();
  let next = max?.m == null ? 0 : Number(max.m) + 1;
  // Merge rows for the same step within the batch, in order. The common case (each step once, in
  // increasing order) copies and sorts nothing; merged values are new objects, never the input's.
  const byStep = new Map<number, Record<string, unknown>>();
  let inOrder = true;
  let lastNew = -1;
  for (const r of input) {
    const step = r.step ?? next;
    next = Math.max(next, step + 1);
    const seen = byStep.get(step);
    if (seen === undefined) {
      byStep.set(step, r.values);
      if (step < lastNew) inOrder = false;
      lastNew = step;
    } else {
      byStep.set(step, { ...seen, ...r.values });
    }
  }
  const steps = [...byStep.keys()];
  if (!inOrder) steps.sort((a, b) => a - b);
  const fromStep = steps[0];
  const toStep = steps[steps.length - 1];
  // A step logged before gets merged with what is stored (W&B's commit=False behaviour).
  if (max?.m != null && fromStep <= Number(max.m)) {
    const existing = await trx
      .selectFrom(tableName)
      .select([`${col} as step` as 'step', 'data'])
      .where('run_id', '=', runId)
      .where(col as 'step', 'in', steps)
      .execute();
    for (const e of existing)
      byStep.set(Number(e.step), { ...JSON.parse(e.data), ...byStep.get(Number(e.step)) });
  }
  const rows = steps.map((step) => ({ step, values: byStep.get(step)! }));
  const metrics = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.values)) if (!k.startsWith('_')) metrics.add(k);
  const CHUNK = 500;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    const params: unknown[] = new Array(chunk.length * 3);
    for (let j = 0; j < chunk.length; j++) {
      params[j * 3] = runId;
      params[j * 3 + 1] = chunk[j].step;
      params[j * 3 + 2] = JSON.stringify(chunk[j].values);
    }
    await trx.executeQuery(CompiledQuery.raw(upsertSql(trx, tableName, col, chunk.length), params));
  }
  return { rows, fromStep, toStep, metrics: [...metrics] };
}

export async function readHistory(
  ctx: Ctx,
  actor: Actor,
  team: string,
  project: string,
  runName: string,
  opts: { keys?: string[]; table?: 'history' | 'system' },
) {
  const { run } = await resolveRun(ctx, actor, team, project, runName);
  const table = opts.table ?? 'history';
  const rows =
    table === 'history'
      ? await ctx.db
          .selectFrom('run_history')
          .select(['step', 'data'])
          .where('run_id', '=', run.id)
          .orderBy('step')
          .execute()
      : await ctx.db
          .selectFrom('run_system')
          .select(['seq as step', 'data'])
          .where('run_id', '=', run.id)
          .orderBy('seq')
          .execute();
  return rows.map((r) => {
    const values = decodeValues(JSON.parse(r.data));
    if (opts.keys) {
      const picked: Record<string, unknown> = { _step: Number(r.step) };
      for (const k of opts.keys) if (k in values) picked[k] = values[k];
      return picked;
    }
    return { _step: Number(r.step), ...values };
  });
}

/** Metric names logged in a project (from run summaries), for suggestions in the UI. */
export async function listMetricNames(ctx: Ctx, actor: Actor, team: string, project: string) {
  const p = await getProject(ctx, actor, team, project, 'project');
  const rows = await ctx.db
    .selectFrom('runs')
    .select('summary')
    .where('project_id', '=', p.id)
    .orderBy('created_at', 'desc')
    .limit(200)
    .execute();
  const names = new Set<string>();
  for (const r of rows)
    for (const k of Object.keys(parseJson(r.summary, {}))) if (!k.startsWith('_')) names.add(k);
  return [...names].sort();
}
