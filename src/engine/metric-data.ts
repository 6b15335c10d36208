import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.js';
import { parseJson } from '../tracking/util.js';
import { coerceMetricValue } from './conditions/metric.js';

export interface Point {
  step: number;
  value: number;
}

type Table = 'history' | 'system';

/**
 * Reads a run's metric points for one METRICS_APPENDED event. Rows of the batch, and the rows
 * before it, are parsed once and shared by every automation watching the run; rows before the
 * batch are read back only as far as the largest window needs.
 */
export class RunMetricData {
  private rows?: Array<{ step: number; data: Record<string, unknown> }>;
  private readonly prior = new Map<string, { values: number[]; exhausted: boolean }>();
  /** Rows logged before the batch, newest first, as far back as any metric has needed so far. */
  private readonly before: Array<{ step: number; data: Record<string, unknown> }> = [];
  private beforeDone = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly runId: string,
    private readonly table: Table,
    private readonly fromStep: number,
    private readonly toStep: number,
  ) {}

  private async batchRows() {
    if (!this.rows) {
      const rows =
        this.table === 'history'
          ? await this.db
              .selectFrom('run_history')
              .select(['step', 'data'])
              .where('run_id', '=', this.runId)
              .where('step', '>=', this.fromStep)
              .where('step', '<=', this.toStep)
              .orderBy('step')
              .execute()
          : await this.db
              .selectFrom('run_system')
              .select(['seq as step', 'data'])
              .where('run_id', '=', this.runId)
              .where('seq', '>=', this.fromStep)
              .where('seq', '<=', this.toStep)
              .orderBy('seq')
              .execute();
      this.rows = rows.map((r) => ({
        step: Number(r.step),
        data: parseJson<Record<string, unknown>>(r.data, {}),
      }));
    }
    return this.rows;
  }

  /** The batch's points of a metric, in step order. */
  async points(metric: string): Promise<Point[]> {
    const out: Point[] = [];
    for (const r of await this.batchRows()) {
      const v = coerceMetricValue(r.data[metric]);
      if (v !== undefined) out.push({ step: r.step, value: v });
    }
    return out;
  }

  /** Up to `k` values of the metric logged before the batch, oldest first. */
  async priorValues(metric: string, k: number): Promise<number[]> {
    const cached = this.prior.get(metric);
    if (cached && (cached.values.length >= k || cached.exhausted)) return cached.values.slice(-k);
    // Walk back over the rows before the batch (newest first). The rows are read and parsed once per
    // event and shared by every metric; a sparse metric may need more rows than values.
    const newestFirst: number[] = [];
    let i = 0;
    let exhausted = false;
    while (newestFirst.length < k) {
      if (i >= this.before.length && !(await this.readMoreBefore(Math.max(64, k - newestFirst.length)))) {
        exhausted = true;
        break;
      }
      for (; i < this.before.length && newestFirst.length < k; i++) {
        const v = coerceMetricValue(this.before[i].data[metric]);
        if (v !== undefined) newestFirst.push(v);
      }
    }
    const values = newestFirst.reverse();
    this.prior.set(metric, { values, exhausted });
    return values;
  }

  /** Reads up to `n` more rows before the batch into `before`; false when there are none left. */
  private async readMoreBefore(n: number): Promise<boolean> {
    if (this.beforeDone) return false;
    const col = this.table === 'history' ? 'step' : 'seq';
    const tableName = this.table === 'history' ? 'run_history' : 'run_system';
    const last = this.before[this.before.length - 1];
    const rows = await this.db
      .selectFrom(tableName)
      .select([`${col} as step` as 'step', 'data'])
      .where('run_id', '=', this.runId)
      .where(col as 'step', '<', last ? last.step : this.fromStep)
      .orderBy(col as 'step', 'desc')
      .limit(n)
      .execute();
    for (const r of rows)
      this.before.push({ step: Number(r.step), data: parseJson<Record<string, unknown>>(r.data, {}) });
    if (rows.length < n) this.beforeDone = true;
    return rows.length > 0;
  }
}

/**
 * The latest value of a metric in up to `n` other runs of the project that logged it (most recent
 * runs first in the query; returned oldest first), read from run summaries.
 */
export async function comparisonValues(
  db: Kysely<DB>,
  projectId: string,
  runId: string,
  metric: string,
  n: number,
): Promise<number[]> {
  const out: number[] = [];
  let offset = 0;
  const page = Math.max(50, n * 2);
  while (out.length < n) {
    const rows = await db
      .selectFrom('runs')
      .select(['summary'])
      .where('project_id', '=', projectId)
      .where('id', '!=', runId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page)
      .offset(offset)
      .execute();
    for (const r of rows) {
      const v = coerceMetricValue(parseJson<Record<string, unknown>>(r.summary, {})[metric]);
      if (v !== undefined) out.push(v);
      if (out.length >= n) break;
    }
    if (rows.length < page) break;
    offset += page;
  }
  return out.reverse();
}
