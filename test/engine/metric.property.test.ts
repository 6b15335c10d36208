/**
 * Incremental decisions (points pushed one by one into a MetricSeriesWindow hydrated like the engine
 * does, with random batch splits) must equal a plain reference that recomputes from the full history.
 * The references restate the documented rules independently of src/engine/conditions/metric.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AggOp,
  type ChangeFilter,
  type CmpOp,
  evaluateChange,
  evaluateThreshold,
  evaluateZScore,
  historyLength,
  MetricSeriesWindow,
  type ThresholdFilter,
  type ZScoreFilter,
} from '../../src/engine/conditions/metric.js';

const RUNS = 3000;

// ----- references -----

function refAggregate(w: number[], op: AggOp): number {
  if (w.some(Number.isNaN)) return Number.NaN;
  if (op === 'MIN') return Math.min(...w);
  if (op === 'MAX') return Math.max(...w);
  return w.reduce((a, b) => a + b, 0) / w.length; // generated values are small enough not to overflow
}

function refCompare(v: number, op: CmpOp, t: number): boolean {
  const nan = Number.isNaN(v);
  switch (op) {
    case '$gt':
      return nan || v > t;
    case '$gte':
      return nan || v >= t;
    case '$lt':
      return !nan && v < t;
    case '$lte':
      return !nan && v <= t;
    case '$eq':
      return v === t;
    case '$ne':
      return v !== t;
  }
}

function refThreshold(history: number[], f: ThresholdFilter) {
  if (history.length === 0) return { fired: false, evaluated: false, value: Number.NaN };
  const w = history.slice(Math.max(0, history.length - f.window_size));
  const value = refAggregate(w, f.agg_op);
  return { fired: refCompare(value, f.cmp_op, f.threshold), evaluated: true, value };
}

function refChange(history: number[], f: ChangeFilter) {
  const n = history.length;
  const c = f.current_window_size;
  const p = f.prior_window_size;
  if (n < c + p)
    return { fired: false, evaluated: false, value: Number.NaN, prior: Number.NaN, delta: Number.NaN };
  const value = refAggregate(history.slice(n - c, n), f.agg_op);
  const prior = refAggregate(history.slice(n - c - p, n - c), f.agg_op);
  const a = Number.isNaN(value) ? Number.POSITIVE_INFINITY : value;
  const b = Number.isNaN(prior) ? Number.POSITIVE_INFINITY : prior;
  let delta: number;
  if (f.change_type === 'ABSOLUTE') delta = a - b;
  else delta = prior === 0 ? Number.NaN : (a - b) / Math.abs(b);
  let fired = false;
  if (!Number.isNaN(delta)) {
    if (f.change_dir === 'INCREASE') fired = delta >= f.change_amount;
    else if (f.change_dir === 'DECREASE') fired = -delta >= f.change_amount;
    else fired = delta >= f.change_amount || -delta >= f.change_amount;
  }
  return { fired, evaluated: true, value, prior, delta };
}

function refZScore(value: number, otherRuns: number[], f: ZScoreFilter) {
  const base = otherRuns
    .slice(Math.max(0, otherRuns.length - f.window_size))
    .filter((v) => Number.isFinite(v));
  const n = base.length;
  if (n < 2 || Math.max(...base) === Math.min(...base))
    return { fired: false, evaluated: false, z: Number.NaN };
  const mean = base.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(base.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const z = ((Number.isNaN(value) ? Number.POSITIVE_INFINITY : value) - mean) / std;
  let fired = false;
  if (f.change_dir === 'INCREASE') fired = z >= f.threshold;
  else if (f.change_dir === 'DECREASE') fired = z <= -f.threshold;
  else fired = z >= f.threshold || z <= -f.threshold;
  return { fired, evaluated: true, z, mean, std };
}

// ----- generators -----

/** Small integers make ties (equal values, values exactly at the threshold) frequent. */
const metricValue = fc.oneof(
  { arbitrary: fc.integer({ min: -3, max: 3 }), weight: 6 },
  { arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }), weight: 3 },
  { arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), weight: 1 },
);
const history = fc.array(metricValue, { maxLength: 40 });
const level = fc.oneof(
  fc.integer({ min: -6, max: 6 }).map((x) => x / 2),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
);
const aggOp = fc.constantFrom<AggOp>('AVERAGE', 'MIN', 'MAX');
const changeDir = fc.constantFrom<'INCREASE' | 'DECREASE' | 'ANY'>('INCREASE', 'DECREASE', 'ANY');

const thresholdFilter: fc.Arbitrary<ThresholdFilter> = fc.record({
  name: fc.constant('loss'),
  agg_op: aggOp,
  window_size: fc.integer({ min: 1, max: 8 }),
  cmp_op: fc.constantFrom<CmpOp>('$gt', '$gte', '$lt', '$lte', '$eq', '$ne'),
  threshold: level,
});

const changeFilter: fc.Arbitrary<ChangeFilter> = fc.record({
  name: fc.constant('loss'),
  agg_op: aggOp,
  current_window_size: fc.integer({ min: 1, max: 5 }),
  prior_window_size: fc.integer({ min: 1, max: 5 }),
  change_type: fc.constantFrom<'ABSOLUTE' | 'RELATIVE'>('ABSOLUTE', 'RELATIVE'),
  change_dir: changeDir,
  change_amount: fc.oneof(
    fc.integer({ min: 1, max: 4 }).map((x) => x / 2),
    fc.double({ min: 1e-6, max: 10, noNaN: true }),
  ),
});

const zscoreFilter: fc.Arbitrary<ZScoreFilter> = fc.record({
  name: fc.constant('acc'),
  window_size: fc.integer({ min: 1, max: 10 }),
  threshold: fc.oneof(
    fc.integer({ min: 1, max: 6 }).map((x) => x / 2),
    fc.double({ min: 1e-3, max: 5, noNaN: true }),
  ),
  change_dir: changeDir,
});

/** Batch boundaries: sorted cut points splitting [0, n) into consecutive batches. */
function batches(n: number, cuts: number[]): [number, number][] {
  const points = [...new Set(cuts.map((c) => c % (n + 1)))]
    .filter((c) => c > 0 && c < n)
    .sort((a, b) => a - b);
  const edges = [0, ...points, n];
  return edges.slice(1).map((end, i) => [edges[i], end]);
}
const cuts = fc.array(fc.nat(), { maxLength: 8 });

/**
 * Replays `values` batch by batch; each batch starts from a fresh window hydrated with only the last `k`
 * values before it, as the engine does when it reads them from the database. `step` pushes and decides.
 */
function replay<T>(
  values: number[],
  cutPoints: number[],
  k: number,
  step: (w: MetricSeriesWindow, v: number) => T,
) {
  const out: T[] = [];
  for (const [start, end] of batches(values.length, cutPoints)) {
    const window = new MetricSeriesWindow(k, values.slice(Math.max(0, start - k), start));
    for (let i = start; i < end; i++) out.push(step(window, values[i]));
  }
  expect(out.length).toBe(values.length);
  return out;
}

/** Equal as numbers, with NaN equal to NaN (0 and -0 are the same value here). */
function same(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

describe('incremental run-metric decisions agree with recomputation from the full history', () => {
  it('threshold', () => {
    fc.assert(
      fc.property(history, thresholdFilter, cuts, (values, f, cutPoints) => {
        const decisions = replay(values, cutPoints, historyLength(f), (w, v) => {
          w.push(v);
          return evaluateThreshold(w.values(), f);
        });
        decisions.forEach((d, i) => {
          const r = refThreshold(values.slice(0, i + 1), f);
          expect(d.fired).toBe(r.fired);
          expect(d.evaluated).toBe(r.evaluated);
          expect(same(d.value, r.value), `value ${d.value} vs ${r.value}`).toBe(true);
          expect(d.count).toBe(Math.min(i + 1, f.window_size));
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('change', () => {
    fc.assert(
      fc.property(history, changeFilter, cuts, (values, f, cutPoints) => {
        const decisions = replay(values, cutPoints, historyLength(f), (w, v) => {
          w.push(v);
          return evaluateChange(w.values(), f);
        });
        decisions.forEach((d, i) => {
          const r = refChange(values.slice(0, i + 1), f);
          expect(d.fired).toBe(r.fired);
          expect(d.evaluated).toBe(r.evaluated);
          expect(same(d.value, r.value)).toBe(true);
          expect(same(d.prior, r.prior)).toBe(true);
          expect(same(d.delta, r.delta), `delta ${d.delta} vs ${r.delta}`).toBe(true);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('z-score: each finished run against the latest values of the runs before it', () => {
    fc.assert(
      fc.property(fc.array(metricValue, { maxLength: 40 }), zscoreFilter, cuts, (runValues, f, cutPoints) => {
        // The window holds other runs' latest values; a run is compared first, then joins the baseline.
        const decisions = replay(runValues, cutPoints, f.window_size, (w, v) => {
          const d = evaluateZScore(v, w.values(), f);
          w.push(v);
          return d;
        });
        decisions.forEach((d, i) => {
          const r = refZScore(runValues[i], runValues.slice(0, i), f);
          expect(d.fired).toBe(r.fired);
          expect(d.evaluated).toBe(r.evaluated);
          expect(same(d.z, r.z), `z ${d.z} vs ${r.z}`).toBe(true);
          if (r.evaluated) {
            expect(same(d.mean, r.mean!)).toBe(true);
            expect(same(d.std, r.std!)).toBe(true);
          }
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('z-score with a baseline longer than the window uses its last window_size values', () => {
    fc.assert(
      fc.property(metricValue, fc.array(metricValue, { maxLength: 30 }), zscoreFilter, (v, others, f) => {
        const d = evaluateZScore(v, others, f);
        const r = refZScore(v, others, f);
        expect(d.fired).toBe(r.fired);
        expect(same(d.z, r.z)).toBe(true);
        expect(evaluateZScore(v, others.slice(-f.window_size), f)).toEqual(d);
      }),
      { numRuns: RUNS },
    );
  });
});
