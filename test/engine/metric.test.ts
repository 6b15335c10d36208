import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  type ChangeFilter,
  type CmpOp,
  coerceMetricValue,
  compareToThreshold,
  evaluateChange,
  evaluateThreshold,
  evaluateZScore,
  historyLength,
  MAX_WINDOW_SIZE,
  MetricSeriesWindow,
  metricNameOf,
  NON_FINITE_RULE,
  type ThresholdFilter,
  validateChangeFilter,
  validateThresholdFilter,
  validateZScoreFilter,
  type ZScoreFilter,
} from '../../src/engine/conditions/metric.js';
import { ValidationError } from '../../src/model/errors.js';

const T = 'event.filter.threshold_filter';
const C = 'event.filter.change_filter';
const Z = 'event.filter.zscore_filter';

function fieldOfError(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).field;
  }
  throw new Error('expected a ValidationError');
}

const threshold = (o: Partial<ThresholdFilter> = {}): ThresholdFilter => ({
  name: 'loss',
  agg_op: 'AVERAGE',
  window_size: 3,
  cmp_op: '$gt',
  threshold: 1,
  ...o,
});
const change = (o: Partial<ChangeFilter> = {}): ChangeFilter => ({
  name: 'loss',
  agg_op: 'AVERAGE',
  current_window_size: 1,
  prior_window_size: 1,
  change_type: 'ABSOLUTE',
  change_dir: 'ANY',
  change_amount: 0.25,
  ...o,
});
const zscore = (o: Partial<ZScoreFilter> = {}): ZScoreFilter => ({
  name: 'acc',
  window_size: 30,
  threshold: 2,
  change_dir: 'ANY',
  ...o,
});

describe('validateThresholdFilter', () => {
  it('normalises, with window_size defaulting to 5', () => {
    expect(
      validateThresholdFilter(
        { name: 'loss', agg_op: 'AVERAGE', window_size: 5, cmp_op: '$gt', threshold: 0.5 },
        T,
      ),
    ).toEqual({ name: 'loss', agg_op: 'AVERAGE', window_size: 5, cmp_op: '$gt', threshold: 0.5 });
    expect(validateThresholdFilter({ name: 'loss', agg_op: 'max', cmp_op: '<=', threshold: 0 }, T)).toEqual({
      name: 'loss',
      agg_op: 'MAX',
      window_size: 5,
      cmp_op: '$lte',
      threshold: 0,
    });
    expect(
      validateThresholdFilter({ name: 'system/cpu', agg_op: 'avg', cmp_op: '$ne', threshold: -2 }, T).agg_op,
    ).toBe('AVERAGE');
  });

  it("without agg_op means W&B's latest value: a window of one", () => {
    expect(validateThresholdFilter({ name: 'loss', cmp_op: '$gt', threshold: 1 }, T)).toEqual({
      name: 'loss',
      agg_op: 'AVERAGE',
      window_size: 1,
      cmp_op: '$gt',
      threshold: 1,
    });
    expect(
      validateThresholdFilter({ name: 'loss', agg_op: null, window_size: 1, cmp_op: '$gt', threshold: 1 }, T),
    ).toBeTruthy();
    expect(
      fieldOfError(() =>
        validateThresholdFilter({ name: 'loss', window_size: 4, cmp_op: '$gt', threshold: 1 }, T),
      ),
    ).toBe(`${T}.window_size`);
  });

  it('names the exact field of each error', () => {
    const ok = { name: 'loss', agg_op: 'MIN', window_size: 5, cmp_op: '$gt', threshold: 0.5 };
    const cases: [Record<string, unknown>, string][] = [
      [{ window_size: 0 }, 'window_size'],
      [{ window_size: 2.5 }, 'window_size'],
      [{ window_size: '5' }, 'window_size'],
      [{ window_size: MAX_WINDOW_SIZE + 1 }, 'window_size'],
      [{ threshold: Number.NaN }, 'threshold'],
      [{ threshold: Number.POSITIVE_INFINITY }, 'threshold'],
      [{ threshold: '0.5' }, 'threshold'],
      [{ threshold: undefined }, 'threshold'],
      [{ cmp_op: '$in' }, 'cmp_op'],
      [{ cmp_op: undefined }, 'cmp_op'],
      [{ agg_op: 'SUM' }, 'agg_op'],
      [{ name: '' }, 'name'],
      [{ name: 3 }, 'name'],
      [{ windowsize: 5 }, 'windowsize'],
    ];
    for (const [patch, key] of cases) {
      expect(
        fieldOfError(() => validateThresholdFilter({ ...ok, ...patch }, T)),
        JSON.stringify(patch),
      ).toBe(`${T}.${key}`);
    }
    expect(fieldOfError(() => validateThresholdFilter('nope', T))).toBe(T);
    expect(fieldOfError(() => validateThresholdFilter([ok], T))).toBe(T);
  });
});

describe('validateChangeFilter', () => {
  const ok = {
    name: 'loss',
    agg_op: 'AVERAGE',
    current_window_size: 10,
    prior_window_size: 50,
    change_type: 'RELATIVE',
    change_dir: 'DECREASE',
    change_amount: 0.25,
  };

  it('normalises; prior window defaults to the current one; aliases', () => {
    expect(validateChangeFilter(ok, C)).toEqual(ok);
    expect(
      validateChangeFilter({ ...ok, prior_window_size: undefined, change_type: 'abs', change_dir: 'inc' }, C),
    ).toEqual({ ...ok, prior_window_size: 10, change_type: 'ABSOLUTE', change_dir: 'INCREASE' });
    expect(
      validateChangeFilter({ name: 'x', change_type: 'ABSOLUTE', change_dir: 'ANY', change_amount: 1 }, C),
    ).toMatchObject({ current_window_size: 1, prior_window_size: 1 });
  });

  it('names the exact field of each error', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ current_window_size: 0 }, 'current_window_size'],
      [{ prior_window_size: -1 }, 'prior_window_size'],
      [{ change_amount: 0 }, 'change_amount'],
      [{ change_amount: -0.5 }, 'change_amount'],
      [{ change_amount: Number.NaN }, 'change_amount'],
      [{ change_type: 'PERCENT' }, 'change_type'],
      [{ change_dir: 'UP' }, 'change_dir'],
      [{ change_dir: undefined }, 'change_dir'],
      [{ agg_op: 'MEDIAN' }, 'agg_op'],
      [{ cmp_op: '$gt' }, 'cmp_op'],
      [{ agg_op: undefined }, 'current_window_size'],
      [{ agg_op: undefined, current_window_size: 1 }, 'prior_window_size'],
    ];
    for (const [patch, key] of cases) {
      expect(
        fieldOfError(() => validateChangeFilter({ ...ok, ...patch }, C)),
        JSON.stringify(patch),
      ).toBe(`${C}.${key}`);
    }
  });
});

describe('validateZScoreFilter', () => {
  it('normalises with defaults window 30, threshold 3, direction ANY', () => {
    expect(validateZScoreFilter({ name: 'acc' }, Z)).toEqual({
      name: 'acc',
      window_size: 30,
      threshold: 3,
      change_dir: 'ANY',
    });
    expect(
      validateZScoreFilter({ name: 'acc', window_size: 5, threshold: 2.0, change_dir: 'decrease' }, Z),
    ).toEqual({
      name: 'acc',
      window_size: 5,
      threshold: 2,
      change_dir: 'DECREASE',
    });
  });

  it('names the exact field of each error', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ window_size: 0 }, 'window_size'],
      [{ threshold: 0 }, 'threshold'],
      [{ threshold: -1 }, 'threshold'],
      [{ change_dir: 'SIDEWAYS' }, 'change_dir'],
      [{ agg_op: 'AVERAGE' }, 'agg_op'],
      [{ name: ' ' }, 'name'],
    ];
    for (const [patch, key] of cases) {
      expect(
        fieldOfError(() => validateZScoreFilter({ name: 'acc', ...patch }, Z)),
        JSON.stringify(patch),
      ).toBe(`${Z}.${key}`);
    }
  });
});

describe('metricNameOf and historyLength', () => {
  it('work for each filter kind', () => {
    expect(metricNameOf(threshold())).toBe('loss');
    expect(metricNameOf(zscore())).toBe('acc');
    expect(historyLength(threshold({ window_size: 7 }))).toBe(7);
    expect(historyLength(change({ current_window_size: 10, prior_window_size: 50 }))).toBe(60);
    expect(historyLength(zscore())).toBe(1);
  });
});

describe('evaluateThreshold', () => {
  it('aggregates the last window_size values', () => {
    expect(evaluateThreshold([9, 9, 0, 1, 2], threshold({ window_size: 3 }))).toEqual({
      fired: false,
      evaluated: true,
      value: 1,
      count: 3,
    });
    expect(evaluateThreshold([9, 9, 0, 1, 2], threshold({ window_size: 3, agg_op: 'MAX' })).fired).toBe(true);
    expect(
      evaluateThreshold([9, 9, 0, 1, 2], threshold({ window_size: 3, agg_op: 'MIN', cmp_op: '$lt' })).value,
    ).toBe(0);
  });

  it('uses what exists when the history is shorter than the window, and nothing when empty', () => {
    expect(evaluateThreshold([5], threshold({ window_size: 5 }))).toEqual({
      fired: true,
      evaluated: true,
      value: 5,
      count: 1,
    });
    const empty = evaluateThreshold([], threshold());
    expect(empty.fired).toBe(false);
    expect(empty.evaluated).toBe(false);
  });

  it('ties: a value exactly at the threshold fires the inclusive operators only', () => {
    const expected: Record<CmpOp, boolean> = {
      $gt: false,
      $gte: true,
      $lt: false,
      $lte: true,
      $eq: true,
      $ne: false,
    };
    for (const [op, fired] of Object.entries(expected)) {
      expect(evaluateThreshold([0, 2], threshold({ cmp_op: op as CmpOp, threshold: 1 })).fired, op).toBe(
        fired,
      );
    }
  });

  it('NaN counts as +Infinity in comparisons; aggregates follow IEEE', () => {
    const table: [number, Record<CmpOp, boolean>][] = [
      [Number.NaN, { $gt: true, $gte: true, $lt: false, $lte: false, $eq: false, $ne: true }],
      [Number.POSITIVE_INFINITY, { $gt: true, $gte: true, $lt: false, $lte: false, $eq: false, $ne: true }],
      [Number.NEGATIVE_INFINITY, { $gt: false, $gte: false, $lt: true, $lte: true, $eq: false, $ne: true }],
    ];
    for (const [v, row] of table) {
      for (const [op, fired] of Object.entries(row)) {
        expect(compareToThreshold(v, op as CmpOp, 0.5), `${v} ${op}`).toBe(fired);
      }
    }
    expect(aggregate([1, Number.NaN, 3], 'AVERAGE')).toBeNaN();
    expect(aggregate([1, Number.NaN, 3], 'MIN')).toBeNaN();
    expect(aggregate([1, Number.NaN, 3], 'MAX')).toBeNaN();
    expect(aggregate([1, Number.POSITIVE_INFINITY], 'AVERAGE')).toBe(Number.POSITIVE_INFINITY);
    expect(aggregate([1, Number.POSITIVE_INFINITY], 'MIN')).toBe(1);
    expect(aggregate([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY], 'AVERAGE')).toBeNaN();
    // A loss that went NaN inside the window trips "average loss > 10".
    expect(evaluateThreshold([0.3, 0.2, Number.NaN], threshold({ threshold: 10 })).fired).toBe(true);
    expect(evaluateThreshold([0.3, 0.2, Number.NaN], threshold({ threshold: 10, cmp_op: '$lt' })).fired).toBe(
      false,
    );
  });

  it('the mean of huge finite values does not overflow', () => {
    expect(aggregate([1e308, 1e308], 'AVERAGE')).toBe(1e308);
    expect(aggregate([-1.5e308, -1.5e308, 0], 'AVERAGE')).toBeCloseTo(-1e308, -300);
  });
});

describe('evaluateChange', () => {
  it('compares consecutive, non-overlapping windows', () => {
    const f = change({
      current_window_size: 2,
      prior_window_size: 3,
      change_dir: 'INCREASE',
      change_amount: 1,
    });
    // prior = [1, 1, 1], current = [2, 4]
    expect(evaluateChange([100, 1, 1, 1, 2, 4], f)).toEqual({
      fired: true,
      evaluated: true,
      value: 3,
      prior: 1,
      delta: 2,
    });
    expect(evaluateChange([1, 1, 1, 2], f).evaluated).toBe(false);
    expect(evaluateChange([1, 1, 1, 2, 4], f).fired).toBe(true);
  });

  it('directions and ties at the amount', () => {
    const up = [1, 1.25];
    const down = [1.25, 1];
    expect(evaluateChange(up, change({ change_dir: 'INCREASE' })).fired).toBe(true);
    expect(evaluateChange(down, change({ change_dir: 'INCREASE' })).fired).toBe(false);
    expect(evaluateChange(down, change({ change_dir: 'DECREASE' })).fired).toBe(true);
    expect(evaluateChange(up, change({ change_dir: 'DECREASE' })).fired).toBe(false);
    expect(evaluateChange(up, change({ change_dir: 'ANY' })).fired).toBe(true);
    expect(evaluateChange(down, change({ change_dir: 'ANY' })).fired).toBe(true);
    expect(evaluateChange([1, 1.2], change({ change_dir: 'ANY' })).fired).toBe(false);
  });

  it('RELATIVE is a fraction of |prior|; a prior of 0 never fires', () => {
    const rel = (o: Partial<ChangeFilter>) => change({ change_type: 'RELATIVE', ...o });
    expect(evaluateChange([4, 5], rel({ change_dir: 'INCREASE' }))).toMatchObject({
      fired: true,
      delta: 0.25,
    });
    expect(evaluateChange([-4, -3], rel({ change_dir: 'INCREASE' }))).toMatchObject({
      fired: true,
      delta: 0.25,
    });
    expect(evaluateChange([-4, -5], rel({ change_dir: 'DECREASE' }))).toMatchObject({
      fired: true,
      delta: -0.25,
    });
    const fromZero = evaluateChange([0, 100], rel({ change_dir: 'ANY' }));
    expect(fromZero.fired).toBe(false);
    expect(fromZero.evaluated).toBe(true);
    expect(fromZero.delta).toBeNaN();
  });

  it('NaN counts as +Infinity in the delta; undefined deltas never fire', () => {
    const nan = Number.NaN;
    const inf = Number.POSITIVE_INFINITY;
    expect(evaluateChange([1, nan], change({ change_dir: 'INCREASE' })).fired).toBe(true);
    expect(evaluateChange([1, nan], change({ change_dir: 'DECREASE' })).fired).toBe(false);
    expect(evaluateChange([nan, 1], change({ change_dir: 'DECREASE' })).fired).toBe(true);
    expect(evaluateChange([nan, nan], change({ change_dir: 'ANY' })).fired).toBe(false);
    expect(evaluateChange([inf, nan], change({ change_dir: 'ANY' })).fired).toBe(false);
    expect(evaluateChange([1, -inf], change({ change_dir: 'DECREASE' })).fired).toBe(true);
    expect(evaluateChange([1, nan], change({ change_type: 'RELATIVE', change_dir: 'INCREASE' })).fired).toBe(
      true,
    );
    expect(evaluateChange([inf, 1], change({ change_type: 'RELATIVE', change_dir: 'ANY' })).fired).toBe(
      false,
    );
  });
});

describe('evaluateZScore', () => {
  it('uses the sample standard deviation of the other runs', () => {
    // mean 1, sample std 1 (population std would be 0.816)
    const d = evaluateZScore(3, [0, 2, 1], zscore({ threshold: 2, change_dir: 'INCREASE' }));
    expect(d).toEqual({ fired: true, evaluated: true, value: 3, z: 2, mean: 1, std: 1, count: 3 });
    expect(evaluateZScore(-1, [0, 2, 1], zscore({ threshold: 2, change_dir: 'DECREASE' })).fired).toBe(true);
    expect(evaluateZScore(-1, [0, 2, 1], zscore({ threshold: 2, change_dir: 'INCREASE' })).fired).toBe(false);
    expect(evaluateZScore(-1, [0, 2, 1], zscore({ threshold: 2, change_dir: 'ANY' })).fired).toBe(true);
    expect(evaluateZScore(2.9, [0, 2, 1], zscore({ threshold: 2, change_dir: 'ANY' })).fired).toBe(false);
  });

  it('needs two values with some spread', () => {
    expect(evaluateZScore(100, [1], zscore()).evaluated).toBe(false);
    expect(evaluateZScore(100, [], zscore()).evaluated).toBe(false);
    expect(evaluateZScore(100, [5, 5, 5], zscore()).fired).toBe(false);
    // Rounding must not turn identical values into a tiny spread.
    const same = evaluateZScore(0.1 + 1e-15, [0.1, 0.1, 0.1], zscore({ threshold: 0.01 }));
    expect(same.evaluated).toBe(false);
  });

  it('only the last window_size runs form the baseline, and non-finite ones are left out', () => {
    const f = zscore({ window_size: 3, threshold: 2 });
    expect(evaluateZScore(3, [1000, -1000, 0, 2, 1], f).z).toBe(2);
    expect(
      evaluateZScore(3, [0, Number.NaN, 2, Number.POSITIVE_INFINITY, 1], zscore({ window_size: 5 })).count,
    ).toBe(3);
    expect(evaluateZScore(3, [0, 2, Number.NaN], f).count).toBe(2);
  });

  it('a NaN or +Infinity current value is an upward outlier, -Infinity a downward one', () => {
    const base = [0, 2, 1];
    expect(evaluateZScore(Number.NaN, base, zscore({ change_dir: 'INCREASE' })).fired).toBe(true);
    expect(evaluateZScore(Number.NaN, base, zscore({ change_dir: 'DECREASE' })).fired).toBe(false);
    expect(evaluateZScore(Number.POSITIVE_INFINITY, base, zscore({ change_dir: 'ANY' })).fired).toBe(true);
    expect(evaluateZScore(Number.NEGATIVE_INFINITY, base, zscore({ change_dir: 'DECREASE' })).fired).toBe(
      true,
    );
    expect(evaluateZScore(Number.NEGATIVE_INFINITY, base, zscore({ change_dir: 'INCREASE' })).fired).toBe(
      false,
    );
  });
});

describe('MetricSeriesWindow', () => {
  it('keeps the last capacity values in step order', () => {
    const w = new MetricSeriesWindow(3, [1, 2, 3, 4, 5]);
    expect(w.values()).toEqual([3, 4, 5]);
    w.push(6);
    expect(w.values()).toEqual([4, 5, 6]);
    expect(w.latest()).toBe(6);
    expect(w.size).toBe(3);
    const empty = new MetricSeriesWindow(2);
    expect(empty.values()).toEqual([]);
    expect(empty.latest()).toBeUndefined();
    empty.push(Number.NaN);
    expect(empty.values()).toEqual([Number.NaN]);
    expect(() => new MetricSeriesWindow(0)).toThrow(RangeError);
  });

  it('forFilter sizes the window for the decision', () => {
    expect(
      MetricSeriesWindow.forFilter(change({ current_window_size: 2, prior_window_size: 3 })).capacity,
    ).toBe(5);
    expect(MetricSeriesWindow.forFilter(threshold({ window_size: 4 }), [1, 2, 3, 4, 5, 6]).values()).toEqual([
      3, 4, 5, 6,
    ]);
  });
});

describe('coerceMetricValue', () => {
  it('accepts numbers and the NaN/Infinity spellings of W&B clients', () => {
    expect(coerceMetricValue(0.5)).toBe(0.5);
    expect(coerceMetricValue('NaN')).toBeNaN();
    expect(coerceMetricValue('Infinity')).toBe(Number.POSITIVE_INFINITY);
    expect(coerceMetricValue('-inf')).toBe(Number.NEGATIVE_INFINITY);
    for (const skip of ['0.5', true, null, undefined, { a: 1 }, [1]])
      expect(coerceMetricValue(skip)).toBeUndefined();
  });
});

describe('documentation', () => {
  it('the README states the NaN rule exported as NON_FINITE_RULE', () => {
    const readme = readFileSync(new URL('../../src/engine/conditions/README.md', import.meta.url), 'utf8');
    expect(readme).toContain('NaN counts as +∞');
    expect(NON_FINITE_RULE).toContain('NaN counts as +Infinity');
  });
});
