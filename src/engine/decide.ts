import type { Kysely } from 'kysely';
import type { FiredEventDetails } from '../actions/variables.js';
import type { LogEvent } from '../model/events.js';
import type { DB } from '../store/schema.js';
import type { CompiledAutomation } from './automation-index.js';
import { matchesArtifactFilter, matchesRunFilter } from './conditions/filter.js';
import {
  evaluateChangeAt,
  evaluateThresholdAt,
  evaluateZScoreAgainst,
  historyLength,
  type MetricFilter,
  zScoreBaseline,
} from './conditions/metric.js';
import { comparisonValues, RunMetricData } from './metric-data.js';

export interface Firing {
  automation: CompiledAutomation;
  event: LogEvent;
  details: FiredEventDetails;
}

/** Per-event shared state: the run's current state and parsed metric rows. */
export class EventContext {
  private runState?: string | null;
  private data?: RunMetricData;
  private readonly zBaselines = new Map<string, number[]>();

  constructor(
    readonly db: Kysely<DB>,
    readonly event: LogEvent,
  ) {}

  async currentRunState(): Promise<string | null> {
    if (this.runState === undefined) {
      const r = this.event.runId
        ? await this.db
            .selectFrom('runs')
            .select('state')
            .where('id', '=', this.event.runId)
            .executeTakeFirst()
        : undefined;
      this.runState = r?.state ?? null;
    }
    return this.runState;
  }

  metricData(): RunMetricData {
    const d = this.event.details;
    this.data ??= new RunMetricData(
      this.db,
      this.event.runId!,
      d.table ?? 'history',
      d.fromStep ?? 0,
      d.toStep ?? -1,
    );
    return this.data;
  }

  async zBaseline(metric: string, n: number): Promise<number[]> {
    const key = `${metric}|${n}`;
    let v = this.zBaselines.get(key);
    if (!v) {
      v = await comparisonValues(this.db, this.event.projectId!, this.event.runId!, metric, n);
      this.zBaselines.set(key, v);
    }
    return v;
  }
}

/** Applies an automation's conditions to one event; returns the firing or null. */
export async function decide(ctx: EventContext, a: CompiledAutomation): Promise<Firing | null> {
  const e = ctx.event;
  const d = e.details;
  if (e.position <= a.fromPosition) return null;
  switch (a.eventType) {
    case 'RUN_STATE': {
      // CRASHED counts as FAILED; KILLED never triggers.
      const state = d.newState === 'CRASHED' ? 'FAILED' : d.newState;
      if (!state || state === 'KILLED' || !a.states?.has(state)) return null;
      if (!matchesRunFilter(a.runFilter, { display_name: d.runName ?? '', username: d.runAuthor ?? '' }))
        return null;
      return { automation: a, event: e, details: { ...d } };
    }
    case 'RUN_METRIC':
    case 'RUN_METRIC_CHANGE':
    case 'RUN_METRIC_ZSCORE':
      return decideMetric(ctx, a);
    default: {
      if (e.type !== a.eventType) return null;
      const doc = { alias: d.alias, tag: d.tag, collection: d.collection };
      if (!matchesArtifactFilter(a.artifactFilter, doc)) return null;
      return { automation: a, event: e, details: { ...d } };
    }
  }
}

async function decideMetric(ctx: EventContext, a: CompiledAutomation): Promise<Firing | null> {
  const e = ctx.event;
  const d = e.details;
  const filter: MetricFilter = (a.threshold ?? a.change ?? a.zscore)!;
  const metric = filter.name;
  if (!d.metrics?.includes(metric)) return null;
  if (!matchesRunFilter(a.runFilter, { display_name: d.runName ?? '', username: d.runAuthor ?? '' }))
    return null;
  if ((await ctx.currentRunState()) === 'KILLED') return null;
  const data = ctx.metricData();
  const points = await data.points(metric);
  if (points.length === 0) return null;
  // The batch bookkeeping (table, step range, names) is the log's business, not the history's.
  const { table: _t, fromStep: _f, toStep: _to, count: _c, metrics: _m, ...runDetails } = d;
  const base = { ...runDetails, metricName: metric };
  if (a.zscore) {
    const baseline = zScoreBaseline(await ctx.zBaseline(metric, a.zscore.window_size), a.zscore);
    for (const p of points) {
      const r = evaluateZScoreAgainst(p.value, baseline);
      if (r.fired)
        return {
          automation: a,
          event: e,
          details: { ...base, metricValue: num(p.value), step: p.step, zScore: num(r.z) },
        };
    }
    return null;
  }
  // Evaluated at every logged point in step order, from the values logged before the batch: the
  // window at a point is the last k values of prior + points up to it, however the points were batched.
  const k = historyLength(filter);
  const prior = await data.priorValues(metric, k);
  const series = prior.slice(-k);
  for (const p of points) series.push(p.value);
  const offset = series.length - points.length;
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const end = offset + i + 1;
    if (a.threshold) {
      const r = evaluateThresholdAt(series, end, a.threshold);
      if (r.fired)
        return { automation: a, event: e, details: { ...base, metricValue: num(r.value), step: p.step } };
    } else if (a.change) {
      const r = evaluateChangeAt(series, end, a.change);
      if (r.fired) {
        return {
          automation: a,
          event: e,
          details: {
            ...base,
            metricValue: num(r.value),
            priorValue: num(r.prior),
            delta: num(r.delta),
            step: p.step,
          },
        };
      }
    }
  }
  return null;
}

/** JSON has no NaN/Infinity: history keeps them as the strings "NaN", "Infinity", "-Infinity". */
const num = (v: number): number | string => (Number.isFinite(v) ? v : String(v));
