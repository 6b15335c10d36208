/**
 * Run-metric conditions: threshold, change between two windows, and z-score against other runs.
 * Pure functions over arrays of values in step order; `MetricSeriesWindow` keeps just the values
 * a decision needs, so the engine pays O(window) per logged point whatever the batching.
 * The rules for NaN and ±Infinity are in README.md and in NON_FINITE_RULE.
 */
import { ValidationError } from '../../model/errors.js';

export type AggOp = 'AVERAGE' | 'MIN' | 'MAX';
export type CmpOp = '$gt' | '$gte' | '$lt' | '$lte' | '$eq' | '$ne';
export type ChangeType = 'ABSOLUTE' | 'RELATIVE';
export type ChangeDir = 'INCREASE' | 'DECREASE' | 'ANY';

export interface ThresholdFilter {
  name: string;
  agg_op: AggOp;
  window_size: number;
  cmp_op: CmpOp;
  threshold: number;
}

export interface ChangeFilter {
  name: string;
  agg_op: AggOp;
  current_window_size: number;
  prior_window_size: number;
  change_type: ChangeType;
  change_dir: ChangeDir;
  change_amount: number;
}

export interface ZScoreFilter {
  name: string;
  window_size: number;
  threshold: number;
  change_dir: ChangeDir;
}

export type MetricFilter = ThresholdFilter | ChangeFilter | ZScoreFilter;

/** `evaluated` is false when there was not enough data to decide (then `fired` is false too). */
export interface ThresholdDecision {
  fired: boolean;
  evaluated: boolean;
  /** The aggregate over the window (NaN when not evaluated). */
  value: number;
  /** How many values the window held (fewer than window_size early in a run). */
  count: number;
}

export interface ChangeDecision {
  fired: boolean;
  evaluated: boolean;
  /** Aggregate of the current window. */
  value: number;
  /** Aggregate of the prior window. */
  prior: number;
  delta: number;
}

export interface ZScoreDecision {
  fired: boolean;
  evaluated: boolean;
  value: number;
  z: number;
  mean: number;
  std: number;
  /** How many finite comparison values formed the baseline. */
  count: number;
}

export const DEFAULT_THRESHOLD_WINDOW = 5;
export const DEFAULT_ZSCORE_WINDOW = 30;
/** W&B's default z-score threshold. */
export const DEFAULT_ZSCORE_THRESHOLD = 3;
/** Keeps the per-run state the engine holds (and reads back from the database) bounded. */
export const MAX_WINDOW_SIZE = 10_000;

export const NON_FINITE_RULE = `NaN and ±Infinity in run metrics:
- Aggregates follow IEEE arithmetic: a NaN anywhere in a window makes AVERAGE, MIN and MAX NaN; +Infinity and -Infinity in the same AVERAGE give NaN; otherwise an infinite value makes the aggregate infinite in its direction (MIN/MAX as usual).
- When an aggregate or value is compared, NaN counts as +Infinity ("the metric exploded"): $gt and $gte fire, $lt and $lte do not, $ne fires, $eq does not. -Infinity fires $lt, $lte and $ne.
- Change: deltas are computed with NaN counted as +Infinity. A delta that is itself undefined (both windows infinite the same way, or RELATIVE with a prior aggregate of 0 or ±Infinity) never fires.
- Z-score: non-finite values of other runs are left out of the baseline; a current value of NaN counts as +Infinity, so it fires INCREASE and ANY, and -Infinity fires DECREASE and ANY (given a valid baseline).`;

// ---------------------------------------------------------------------------------------------------
// Validation (plain code rather than zod so error fields and messages are exact)

const AGG_ALIASES: Record<string, AggOp> = {
  AVERAGE: 'AVERAGE',
  AVG: 'AVERAGE',
  MEAN: 'AVERAGE',
  MIN: 'MIN',
  MAX: 'MAX',
};
const CMP_ALIASES: Record<string, CmpOp> = {
  $gt: '$gt',
  $gte: '$gte',
  $lt: '$lt',
  $lte: '$lte',
  $eq: '$eq',
  $ne: '$ne',
  '>': '$gt',
  '>=': '$gte',
  '<': '$lt',
  '<=': '$lte',
  '==': '$eq',
  '!=': '$ne',
};
const CHANGE_TYPE_ALIASES: Record<string, ChangeType> = {
  ABSOLUTE: 'ABSOLUTE',
  ABS: 'ABSOLUTE',
  RELATIVE: 'RELATIVE',
  REL: 'RELATIVE',
};
const CHANGE_DIR_ALIASES: Record<string, ChangeDir> = {
  INCREASE: 'INCREASE',
  INC: 'INCREASE',
  DECREASE: 'DECREASE',
  DEC: 'DECREASE',
  ANY: 'ANY',
};

export function validateThresholdFilter(input: unknown, field: string): ThresholdFilter {
  const obj = expectObject(input, field, ['name', 'agg_op', 'window_size', 'cmp_op', 'threshold']);
  const name = metricName(obj.name, `${field}.name`);
  const { agg_op, window_size } = aggWindow(obj, field, 'window_size', DEFAULT_THRESHOLD_WINDOW);
  return {
    name,
    agg_op,
    window_size,
    cmp_op: oneOf(obj.cmp_op, `${field}.cmp_op`, CMP_ALIASES, false),
    threshold: finiteNumber(obj.threshold, `${field}.threshold`),
  };
}

export function validateChangeFilter(input: unknown, field: string): ChangeFilter {
  const obj = expectObject(input, field, [
    'name',
    'agg_op',
    'current_window_size',
    'prior_window_size',
    'change_type',
    'change_dir',
    'change_amount',
  ]);
  const name = metricName(obj.name, `${field}.name`);
  const { agg_op, window_size } = aggWindow(obj, field, 'current_window_size', 1);
  // As in W&B, the prior window defaults to the current window's size.
  const prior =
    obj.prior_window_size === undefined
      ? window_size
      : windowSize(obj.prior_window_size, `${field}.prior_window_size`);
  if (obj.agg_op == null && prior !== 1) {
    throw new ValidationError(
      `${field}.prior_window_size: a window larger than 1 needs agg_op (AVERAGE, MIN or MAX)`,
      `${field}.prior_window_size`,
    );
  }
  const amount = finiteNumber(obj.change_amount, `${field}.change_amount`);
  if (amount <= 0) {
    throw new ValidationError(`${field}.change_amount must be greater than 0`, `${field}.change_amount`);
  }
  return {
    name,
    agg_op,
    current_window_size: window_size,
    prior_window_size: prior,
    change_type: oneOf(obj.change_type, `${field}.change_type`, CHANGE_TYPE_ALIASES, true),
    change_dir: oneOf(obj.change_dir, `${field}.change_dir`, CHANGE_DIR_ALIASES, true),
    change_amount: amount,
  };
}

export function validateZScoreFilter(input: unknown, field: string): ZScoreFilter {
  const obj = expectObject(input, field, ['name', 'window_size', 'threshold', 'change_dir']);
  const name = metricName(obj.name, `${field}.name`);
  const window_size =
    obj.window_size === undefined
      ? DEFAULT_ZSCORE_WINDOW
      : windowSize(obj.window_size, `${field}.window_size`);
  const threshold =
    obj.threshold === undefined
      ? DEFAULT_ZSCORE_THRESHOLD
      : finiteNumber(obj.threshold, `${field}.threshold`);
  if (threshold <= 0) {
    throw new ValidationError(`${field}.threshold must be greater than 0`, `${field}.threshold`);
  }
  const change_dir =
    obj.change_dir === undefined
      ? 'ANY'
      : oneOf(obj.change_dir, `${field}.change_dir`, CHANGE_DIR_ALIASES, true);
  return { name, window_size, threshold, change_dir };
}

export function metricNameOf(filter: MetricFilter): string {
  return filter.name;
}

/** How many of a run's latest values a decision needs: the capacity for its MetricSeriesWindow. */
export function historyLength(filter: MetricFilter): number {
  if ('current_window_size' in filter) return filter.current_window_size + filter.prior_window_size;
  if ('cmp_op' in filter) return filter.window_size;
  return 1; // z-score looks at the run's current value only
}

function expectObject(input: unknown, field: string, keys: string[]): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(`${field} must be an object`, field);
  }
  for (const key of Object.keys(input)) {
    if (!keys.includes(key)) {
      throw new ValidationError(
        `${field}.${key} is not a known setting; expected ${keys.join(', ')}`,
        `${field}.${key}`,
      );
    }
  }
  return input as Record<string, unknown>;
}

function metricName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError(`${field} must be a non-empty metric name, e.g. "loss" or "system/cpu"`, field);
  }
  return value;
}

function finiteNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValidationError(`${field} must be a finite number`, field);
  }
  return value;
}

function windowSize(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_WINDOW_SIZE) {
    throw new ValidationError(`${field} must be a whole number from 1 to ${MAX_WINDOW_SIZE}`, field);
  }
  return value;
}

/** Enum values are case-insensitive and accept W&B's short aliases (AVG, ABS, INC, …). */
function oneOf<T extends string>(
  value: unknown,
  field: string,
  aliases: Record<string, T>,
  upper: boolean,
): T {
  const key = typeof value === 'string' ? (upper ? value.trim().toUpperCase() : value.trim()) : undefined;
  const found = key !== undefined && Object.hasOwn(aliases, key) ? aliases[key] : undefined;
  if (found === undefined) {
    const allowed = [...new Set(Object.values(aliases))].join(', ');
    throw new ValidationError(`${field} must be one of ${allowed}`, field);
  }
  return found;
}

/**
 * W&B allows agg_op to be absent, meaning "the latest value"; that is a window of one, for which every
 * aggregate is the value itself. A larger window without agg_op is refused rather than silently ignored.
 */
function aggWindow(
  obj: Record<string, unknown>,
  field: string,
  windowKey: string,
  defaultWindow: number,
): { agg_op: AggOp; window_size: number } {
  if (obj.agg_op == null) {
    const size = obj[windowKey] === undefined ? 1 : windowSize(obj[windowKey], `${field}.${windowKey}`);
    if (size !== 1) {
      throw new ValidationError(
        `${field}.${windowKey}: a window larger than 1 needs agg_op (AVERAGE, MIN or MAX)`,
        `${field}.${windowKey}`,
      );
    }
    return { agg_op: 'AVERAGE', window_size: 1 };
  }
  return {
    agg_op: oneOf(obj.agg_op, `${field}.agg_op`, AGG_ALIASES, true),
    window_size:
      obj[windowKey] === undefined ? defaultWindow : windowSize(obj[windowKey], `${field}.${windowKey}`),
  };
}

// ---------------------------------------------------------------------------------------------------
// Decisions

/** NaN counts as +Infinity whenever a value is compared: a metric going NaN has "exploded". */
function exploded(x: number): number {
  return Number.isNaN(x) ? Number.POSITIVE_INFINITY : x;
}

export function aggregate(values: readonly number[], op: AggOp): number {
  return aggregateRange(values, 0, values.length, op);
}

/** `aggregate` of `values[from..to)`, without copying the slice (same arithmetic, same result). */
export function aggregateRange(values: readonly number[], from: number, to: number, op: AggOp): number {
  const n = to - from;
  if (n <= 0) return Number.NaN;
  if (op !== 'AVERAGE') {
    let best = values[from];
    for (let i = from; i < to; i++) {
      const v = values[i];
      if (Number.isNaN(v)) return Number.NaN;
      if (op === 'MIN' ? v < best : v > best) best = v;
    }
    return best;
  }
  let sum = 0;
  for (let i = from; i < to; i++) sum += values[i];
  const mean = sum / n;
  if (Number.isFinite(mean)) return mean;
  for (let i = from; i < to; i++) if (!Number.isFinite(values[i])) return mean;
  // The sum of finite values overflowed; dividing first keeps the mean finite.
  let scaled = 0;
  for (let i = from; i < to; i++) scaled += values[i] / n;
  return scaled;
}

export function compareToThreshold(value: number, op: CmpOp, threshold: number): boolean {
  const x = exploded(value);
  switch (op) {
    case '$gt':
      return x > threshold;
    case '$gte':
      return x >= threshold;
    case '$lt':
      return x < threshold;
    case '$lte':
      return x <= threshold;
    case '$eq':
      return x === threshold;
    case '$ne':
      return x !== threshold;
  }
}

/**
 * `valuesUpToPoint` is the metric's values in step order, ending at the point being evaluated.
 * The window is the last `window_size` values; early in a run, when fewer exist, it is all of them
 * (as in W&B, which evaluates as soon as one value exists). With no values nothing is evaluated.
 */
export function evaluateThreshold(valuesUpToPoint: readonly number[], f: ThresholdFilter): ThresholdDecision {
  return evaluateThresholdAt(valuesUpToPoint, valuesUpToPoint.length, f);
}

/** `evaluateThreshold` on `series[0..end)`: a point inside a longer series, without copying it. */
export function evaluateThresholdAt(
  series: readonly number[],
  end: number,
  f: ThresholdFilter,
): ThresholdDecision {
  if (end <= 0) return { fired: false, evaluated: false, value: Number.NaN, count: 0 };
  const from = Math.max(0, end - f.window_size);
  const value = aggregateRange(series, from, end, f.agg_op);
  return {
    fired: compareToThreshold(value, f.cmp_op, f.threshold),
    evaluated: true,
    value,
    count: end - from,
  };
}

/**
 * Current window: the last `current_window_size` values; prior window: the `prior_window_size` values
 * just before it (consecutive, no overlap). Nothing is evaluated until both windows are full.
 * RELATIVE change is (current − prior) / |prior|, a fraction; from a prior of 0 it is undefined and never fires.
 */
export function evaluateChange(valuesUpToPoint: readonly number[], f: ChangeFilter): ChangeDecision {
  return evaluateChangeAt(valuesUpToPoint, valuesUpToPoint.length, f);
}

/** `evaluateChange` on `series[0..end)`: a point inside a longer series, without copying it. */
export function evaluateChangeAt(series: readonly number[], end: number, f: ChangeFilter): ChangeDecision {
  const cur = f.current_window_size;
  if (end < cur + f.prior_window_size) {
    return { fired: false, evaluated: false, value: Number.NaN, prior: Number.NaN, delta: Number.NaN };
  }
  const value = aggregateRange(series, end - cur, end, f.agg_op);
  const prior = aggregateRange(series, end - cur - f.prior_window_size, end - cur, f.agg_op);
  const diff = exploded(value) - exploded(prior);
  const delta =
    f.change_type === 'ABSOLUTE' ? diff : prior === 0 ? Number.NaN : diff / Math.abs(exploded(prior));
  return { fired: changeFires(delta, f.change_dir, f.change_amount), evaluated: true, value, prior, delta };
}

function changeFires(delta: number, dir: ChangeDir, amount: number): boolean {
  if (Number.isNaN(delta)) return false;
  if (dir === 'INCREASE') return delta >= amount;
  if (dir === 'DECREASE') return delta <= -amount;
  return Math.abs(delta) >= amount;
}

/**
 * `comparisonValues`: the latest value of the metric in other runs of the project, oldest first; the last
 * `window_size` of them form the baseline (the current run is never part of it). Non-finite values are left
 * out so one exploded run cannot disable the detector. The spread is the *sample* standard deviation
 * (n − 1), the usual estimate when a few runs stand for all runs; it needs at least 2 values, and a
 * baseline whose values are all equal has no spread, so nothing fires.
 * z = (value − mean) / std; INCREASE fires when z ≥ threshold, DECREASE when z ≤ −threshold, ANY when |z| ≥ threshold.
 */
export function evaluateZScore(
  currentValue: number,
  comparisonValues: readonly number[],
  f: ZScoreFilter,
): ZScoreDecision {
  return evaluateZScoreAgainst(currentValue, zScoreBaseline(comparisonValues, f));
}

/** The baseline of a z-score decision: computed once, then shared by every point of a batch. */
export interface ZScoreBaseline {
  filter: ZScoreFilter;
  count: number;
  /** NaN when there is no decision (fewer than 2 finite values, or all equal). */
  mean: number;
  std: number;
}

export function zScoreBaseline(comparisonValues: readonly number[], f: ZScoreFilter): ZScoreBaseline {
  const baseline = comparisonValues.slice(-f.window_size).filter(Number.isFinite);
  const count = baseline.length;
  // Equal values are checked exactly: a computed variance can be a tiny non-zero from rounding.
  if (count < 2 || baseline.every((v) => v === baseline[0])) {
    return { filter: f, count, mean: Number.NaN, std: Number.NaN };
  }
  const mean = aggregate(baseline, 'AVERAGE');
  let squares = 0;
  for (const v of baseline) squares += (v - mean) ** 2;
  return { filter: f, count, mean, std: Math.sqrt(squares / (count - 1)) };
}

export function evaluateZScoreAgainst(currentValue: number, b: ZScoreBaseline): ZScoreDecision {
  const { count, mean, std } = b;
  if (Number.isNaN(std)) {
    return {
      fired: false,
      evaluated: false,
      value: currentValue,
      z: Number.NaN,
      mean: Number.NaN,
      std: Number.NaN,
      count,
    };
  }
  const z = (exploded(currentValue) - mean) / std;
  return {
    fired: changeFires(z, b.filter.change_dir, b.filter.threshold),
    evaluated: true,
    value: currentValue,
    z,
    mean,
    std,
    count,
  };
}

// ---------------------------------------------------------------------------------------------------
// Incremental evaluation

/**
 * The last `capacity` values of one run's metric, in step order. The engine hydrates it with the values
 * logged before a batch and pushes each new point in step order; since a decision only reads the last
 * `historyLength(filter)` values, the result at a point does not depend on how points were batched.
 */
export class MetricSeriesWindow {
  private readonly ring: number[];
  private start = 0;
  private length = 0;

  constructor(
    readonly capacity: number,
    history: readonly number[] = [],
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.ring = new Array<number>(capacity);
    for (const v of history.slice(-capacity)) this.push(v);
  }

  static forFilter(filter: MetricFilter, history: readonly number[] = []): MetricSeriesWindow {
    return new MetricSeriesWindow(historyLength(filter), history);
  }

  get size(): number {
    return this.length;
  }

  push(value: number): void {
    if (this.length < this.capacity) {
      this.ring[(this.start + this.length) % this.capacity] = value;
      this.length += 1;
    } else {
      this.ring[this.start] = value;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Oldest first; at most `capacity` values. */
  values(): number[] {
    const out = new Array<number>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.ring[(this.start + i) % this.capacity];
    return out;
  }

  latest(): number | undefined {
    return this.length === 0 ? undefined : this.ring[(this.start + this.length - 1) % this.capacity];
  }
}

/**
 * History rows are JSON, where W&B clients write NaN and infinities as strings; anything that is not a
 * number (or one of those strings) is not a point of the metric and should be skipped.
 */
export function coerceMetricValue(raw: unknown): number | undefined {
  if (typeof raw === 'number') return raw;
  if (typeof raw !== 'string') return undefined;
  switch (raw.trim().toLowerCase()) {
    case 'nan':
      return Number.NaN;
    case 'infinity':
    case '+infinity':
    case 'inf':
      return Number.POSITIVE_INFINITY;
    case '-infinity':
    case '-inf':
      return Number.NEGATIVE_INFINITY;
    default:
      return undefined;
  }
}
