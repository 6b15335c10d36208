import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileSafeRegex,
  type FilterExpr,
  MATCH_ALL,
  matchesArtifactFilter,
  matchesFilter,
  matchesRunFilter,
  parseArtifactFilter,
  parseFilter,
  parseRunFilter,
} from '../../src/engine/conditions/filter.js';
import { ValidationError } from '../../src/model/errors.js';

const F = 'event.filter';

function match(filter: unknown, doc: Record<string, unknown>): boolean {
  return matchesFilter(parseFilter(filter, F), doc);
}

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('filter operators', () => {
  const doc = { name: 'resnet-50', step: 10, done: true, nothing: null, tags: ['a', 'b'] };

  it('$eq and implicit equality', () => {
    expect(match({ name: { $eq: 'resnet-50' } }, doc)).toBe(true);
    expect(match({ name: 'resnet-50' }, doc)).toBe(true);
    expect(match({ name: 'resnet' }, doc)).toBe(false);
    expect(match({ step: 10 }, doc)).toBe(true);
    expect(match({ step: '10' }, doc)).toBe(false); // no type coercion
    expect(match({ done: true }, doc)).toBe(true);
    expect(match({ nothing: null }, doc)).toBe(true);
    expect(match({ missing: null }, doc)).toBe(true);
    expect(match({ missing: 'x' }, doc)).toBe(false);
  });

  it('$ne, including missing fields', () => {
    expect(match({ name: { $ne: 'x' } }, doc)).toBe(true);
    expect(match({ name: { $ne: 'resnet-50' } }, doc)).toBe(false);
    expect(match({ missing: { $ne: 'x' } }, doc)).toBe(true);
  });

  it('ordering operators compare within a type only', () => {
    expect(match({ step: { $gt: 9 } }, doc)).toBe(true);
    expect(match({ step: { $gt: 10 } }, doc)).toBe(false);
    expect(match({ step: { $gte: 10 } }, doc)).toBe(true);
    expect(match({ step: { $lt: 10 } }, doc)).toBe(false);
    expect(match({ step: { $lte: 10 } }, doc)).toBe(true);
    expect(match({ name: { $gt: 'resnet' } }, doc)).toBe(true);
    expect(match({ step: { $gt: '1' } }, doc)).toBe(false);
    expect(match({ name: { $lt: 5 } }, doc)).toBe(false);
    expect(match({ missing: { $lt: 5 } }, doc)).toBe(false);
    expect(matchesFilter(parseFilter({ x: { $gt: 0 } }, F), { x: Number.NaN })).toBe(false);
  });

  it('$in and $nin', () => {
    expect(match({ name: { $in: ['a', 'resnet-50'] } }, doc)).toBe(true);
    expect(match({ name: { $in: [] } }, doc)).toBe(false);
    expect(match({ name: { $nin: ['a', 'resnet-50'] } }, doc)).toBe(false);
    expect(match({ name: { $nin: [] } }, doc)).toBe(true);
    expect(match({ missing: { $nin: ['a'] } }, doc)).toBe(true);
    expect(match({ missing: { $in: [null] } }, doc)).toBe(true);
  });

  it('$exists', () => {
    expect(match({ name: { $exists: true } }, doc)).toBe(true);
    expect(match({ missing: { $exists: true } }, doc)).toBe(false);
    expect(match({ missing: { $exists: false } }, doc)).toBe(true);
    expect(match({ nothing: { $exists: true } }, doc)).toBe(true);
  });

  it('$regex is an unanchored RE2 search', () => {
    expect(match({ name: { $regex: 'net' } }, doc)).toBe(true);
    expect(match({ name: { $regex: '^net' } }, doc)).toBe(false);
    expect(match({ name: { $regex: '^resnet-\\d+$' } }, doc)).toBe(true);
    expect(match({ name: { $regex: '(?i)RESNET' } }, doc)).toBe(true);
    expect(match({ step: { $regex: '10' } }, doc)).toBe(false); // only strings match
  });

  it('$contains is a case-sensitive substring test', () => {
    expect(match({ name: { $contains: 'net-5' } }, doc)).toBe(true);
    expect(match({ name: { $contains: 'NET' } }, doc)).toBe(false);
    expect(match({ name: { $contains: '' } }, doc)).toBe(true);
    expect(match({ missing: { $contains: '' } }, doc)).toBe(false);
  });

  it('array fields match if any element matches; $ne/$nin if none is equal', () => {
    expect(match({ tags: 'a' }, doc)).toBe(true);
    expect(match({ tags: { $regex: '^b$' } }, doc)).toBe(true);
    expect(match({ tags: { $ne: 'a' } }, doc)).toBe(false);
    expect(match({ tags: { $ne: 'c' } }, doc)).toBe(true);
    expect(match({ tags: { $nin: ['c', 'b'] } }, doc)).toBe(false);
    expect(match({ tags: { $in: ['c', 'b'] } }, doc)).toBe(true);
    expect(match({ tags: 'c' }, { tags: [] })).toBe(false);
    expect(match({ tags: { $ne: 'c' } }, { tags: [] })).toBe(true);
  });

  it('several operators on one field, and several fields, are ANDed', () => {
    expect(match({ step: { $gt: 5, $lt: 20 } }, doc)).toBe(true);
    expect(match({ step: { $gt: 5, $lt: 10 } }, doc)).toBe(false);
    expect(match({ step: 10, name: 'resnet-50' }, doc)).toBe(true);
    expect(match({ step: 10, name: 'x' }, doc)).toBe(false);
  });

  it('dotted field names reach into nested objects', () => {
    expect(match({ 'metadata.acc': { $gte: 0.9 } }, { metadata: { acc: 0.95 } })).toBe(true);
    expect(match({ 'metadata.acc': { $gte: 0.9 } }, { 'metadata.acc': 0.5, metadata: { acc: 0.95 } })).toBe(
      false,
    );
    expect(match({ 'a.b.c': { $exists: false } }, { a: 1 })).toBe(true);
  });
});

describe('logical operators and nesting', () => {
  const doc = { alias: 'prod', tag: 'gold' };

  it('$and, $or, $nor, $not', () => {
    expect(match({ $and: [{ alias: 'prod' }, { tag: 'gold' }] }, doc)).toBe(true);
    expect(match({ $and: [{ alias: 'prod' }, { tag: 'x' }] }, doc)).toBe(false);
    expect(match({ $or: [{ alias: 'x' }, { tag: 'gold' }] }, doc)).toBe(true);
    expect(match({ $or: [{ alias: 'x' }, { tag: 'y' }] }, doc)).toBe(false);
    expect(match({ $nor: [{ alias: 'x' }, { tag: 'y' }] }, doc)).toBe(true);
    expect(match({ $nor: [{ alias: 'prod' }] }, doc)).toBe(false);
    expect(match({ $not: { alias: 'prod' } }, doc)).toBe(false);
    expect(match({ $not: { alias: 'x' } }, doc)).toBe(true);
  });

  it('empty groups: $and and {} match everything, $or nothing, $nor everything', () => {
    expect(match({ $and: [] }, doc)).toBe(true);
    expect(match({}, doc)).toBe(true);
    expect(match({ $or: [] }, doc)).toBe(false);
    expect(match({ $nor: [] }, doc)).toBe(true);
    expect(match({ $or: [{ $and: [] }] }, doc)).toBe(true);
  });

  it('field-level $not, $or, $and, $nor apply to the same field', () => {
    expect(match({ alias: { $not: { $regex: '^prod' } } }, doc)).toBe(false);
    expect(match({ alias: { $not: { $regex: '^stag' } } }, doc)).toBe(true);
    expect(match({ alias: { $not: 'prod' } }, doc)).toBe(false);
    expect(match({ alias: { $or: [{ $eq: 'x' }, { $regex: 'ro' }] } }, doc)).toBe(true);
    expect(match({ alias: { $and: [{ $contains: 'pr' }, { $contains: 'zz' }] } }, doc)).toBe(false);
    expect(match({ alias: { $nor: [{ $eq: 'x' }] } }, doc)).toBe(true);
  });

  it('deep nesting', () => {
    const filter = {
      $or: [
        { $and: [{ alias: { $regex: '^stag' } }] },
        { $and: [{ $nor: [{ tag: 'bronze' }] }, { $not: { $or: [{ alias: 'dev' }, { alias: 'test' }] } }] },
      ],
    };
    expect(match(filter, doc)).toBe(true);
    expect(match(filter, { alias: 'dev', tag: 'gold' })).toBe(false);
    expect(match(filter, { alias: 'staging', tag: 'bronze' })).toBe(true);
  });
});

describe('JSON string input', () => {
  const obj = { $or: [{ $and: [{ alias: { $regex: '^prod' } }] }] };

  it('accepts a JSON string', () => {
    const expr = parseFilter(JSON.stringify(obj), F);
    expect(matchesFilter(expr, { alias: 'production' })).toBe(true);
    expect(matchesFilter(expr, { alias: 'staging' })).toBe(false);
  });

  it('accepts a doubly encoded JSON string', () => {
    const expr = parseFilter(JSON.stringify(JSON.stringify(obj)), F);
    expect(expr).toEqual(parseFilter(obj, F));
    expect(matchesFilter(expr, { alias: 'production' })).toBe(true);
  });

  it('rejects invalid JSON and strings nested too deeply', () => {
    expect(validationError(() => parseFilter('{"alias":', F)).field).toBe(F);
    const deep = JSON.stringify(JSON.stringify(JSON.stringify(JSON.stringify(obj))));
    expect(validationError(() => parseFilter(deep, F)).field).toBe(F);
  });

  it('rejects non-object filters', () => {
    for (const bad of [null, undefined, 3, '[]', '"x"', [{ alias: 'a' }], true]) {
      expect(validationError(() => parseFilter(bad, F)).field).toBe(F);
    }
  });
});

describe('validation errors name the field', () => {
  it('unknown operators, at the top level and on a field', () => {
    const top = validationError(() => parseFilter({ $xor: [] }, F));
    expect(top.field).toBe(`${F}.$xor`);
    expect(top.message).toContain('$xor');
    const nested = validationError(() => parseFilter({ $and: [{ alias: { $like: 'a' } }] }, F));
    expect(nested.field).toBe(`${F}.$and[0].alias.$like`);
    expect(nested.message).toContain('unknown operator $like');
    const inString = validationError(() => parseFilter('{"$or":[{"alias":{"$where":"1"}}]}', F));
    expect(inString.field).toBe(`${F}.$or[0].alias.$where`);
  });

  it('a field operator at the top level', () => {
    const err = validationError(() => parseFilter({ $regex: 'a' }, F));
    expect(err.field).toBe(`${F}.$regex`);
    expect(err.message).toContain('must be applied to a field');
  });

  it('wrong operand types', () => {
    const cases: [unknown, string][] = [
      [{ alias: { $in: 'prod' } }, `${F}.alias.$in`],
      [{ alias: { $nin: { a: 1 } } }, `${F}.alias.$nin`],
      [{ alias: { $in: ['a', { b: 1 }] } }, `${F}.alias.$in[1]`],
      [{ alias: { $regex: 5 } }, `${F}.alias.$regex`],
      [{ alias: { $contains: ['a'] } }, `${F}.alias.$contains`],
      [{ alias: { $exists: 1 } }, `${F}.alias.$exists`],
      [{ step: { $gt: null } }, `${F}.step.$gt`],
      [{ step: { $gt: true } }, `${F}.step.$gt`],
      [{ alias: { $eq: [1] } }, `${F}.alias.$eq`],
      [{ alias: [1] }, `${F}.alias`],
      [{ alias: { nested: 1 } }, `${F}.alias.nested`],
      [{ $and: {} }, `${F}.$and`],
      [{ $or: [1] }, `${F}.$or[0]`],
      [{ $not: [] }, `${F}.$not`],
    ];
    for (const [filter, field] of cases) {
      expect(validationError(() => parseFilter(filter, F)).field, JSON.stringify(filter)).toBe(field);
    }
  });

  it('NaN and infinite operands are refused', () => {
    expect(validationError(() => parseFilter({ x: { $gt: Number.NaN } }, F)).field).toBe(`${F}.x.$gt`);
    expect(validationError(() => parseFilter({ x: Number.POSITIVE_INFINITY }, F)).field).toBe(`${F}.x`);
  });

  it('allowedFields', () => {
    const opts = { allowedFields: ['alias', 'tag'] };
    expect(() => parseFilter({ alias: 'a', tag: 'b' }, F, opts)).not.toThrow();
    const err = validationError(() => parseFilter({ $or: [{ alais: 'a' }] }, F, opts));
    expect(err.field).toBe(`${F}.$or[0].alais`);
    expect(err.message).toContain('allowed fields are alias, tag');
  });

  it('bounds depth and size', () => {
    let deep: unknown = { alias: 'a' };
    for (let i = 0; i < 40; i++) deep = { $not: deep };
    expect(validationError(() => parseFilter(deep, F)).message).toContain('nested');
    const wide = { $or: Array.from({ length: 2000 }, () => ({ alias: 'a' })) };
    expect(validationError(() => parseFilter(wide, F)).message).toContain('terms');
  });
});

describe('regexes are safe', () => {
  it('rejects invalid and unsupported patterns with a clear message', () => {
    for (const pattern of ['(a)\\1', '(?=a)', '(?<!a)b', '[', 'a{1001}', '*']) {
      const err = validationError(() => parseFilter({ alias: { $regex: pattern } }, F));
      expect(err.field).toBe(`${F}.alias.$regex`);
      expect(err.message).toContain('not a supported regular expression');
    }
    expect(validationError(() => compileSafeRegex('x'.repeat(1001), 'f.re')).field).toBe('f.re');
    expect(validationError(() => compileSafeRegex(undefined, 'f.re')).message).toContain(
      'regular expression',
    );
  });

  it('compileSafeRegex returns a working matcher', () => {
    const re = compileSafeRegex('^v\\d+$', 'f');
    expect(re.test('v12')).toBe(true);
    expect(re.test('v1x')).toBe(false);
  });

  it('(a+)+$ on a long non-matching input runs in linear time', () => {
    const input = `${'a'.repeat(50_000)}b`;
    const time = (pattern: string): number => {
      const expr = parseFilter({ s: { $regex: pattern } }, F);
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) matchesFilter(expr, { s: input });
      return performance.now() - t0;
    };
    time('a'); // warm up
    const trivial = time('^a+b$');
    const evil = time('(a+)+$');
    expect(matchesFilter(parseFilter({ s: { $regex: '(a+)+$' } }, F), { s: input })).toBe(false);
    // A backtracking engine needs ~2^50000 steps here; RE2 is linear, within a small factor of a plain scan.
    expect(evil).toBeLessThan(Math.max(50 * trivial, 50));
    expect(evil).toBeLessThan(2000); // hang guard
  });
});

describe('artifact and run filter helpers', () => {
  it('artifact filters: alias, tag, collection; W&B wrapped form; JSON string', () => {
    const expr = parseArtifactFilter('{"$or":[{"$and":[{"alias":{"$regex":"^prod"}}]}]}', F);
    expect(matchesArtifactFilter(expr, { alias: 'production' })).toBe(true);
    expect(matchesArtifactFilter(expr, { alias: 'staging' })).toBe(false);
    expect(matchesArtifactFilter(expr, { tag: 'prod' })).toBe(false);
    expect(matchesArtifactFilter(expr, { alias: ['latest', 'prod'] })).toBe(true);
    const both = parseArtifactFilter({ tag: { $in: ['gold'] }, collection: { $contains: 'mnist' } }, F);
    expect(matchesArtifactFilter(both, { tag: 'gold', collection: 'mnist-model' })).toBe(true);
    expect(matchesArtifactFilter(both, { tag: 'gold', collection: 'cifar' })).toBe(false);
    expect(validationError(() => parseArtifactFilter({ display_name: 'x' }, F)).field).toBe(
      `${F}.display_name`,
    );
  });

  it('artifact and run filters: absent means match everything', () => {
    for (const absent of [undefined, null, '', '  ']) {
      expect(parseArtifactFilter(absent, F)).toBe(MATCH_ALL);
      expect(parseRunFilter(absent, F)).toBe(MATCH_ALL);
    }
    expect(matchesRunFilter(MATCH_ALL, { display_name: 'x', username: 'u' })).toBe(true);
  });

  it('run filters: display_name $contains / $regex, username, wrapped forms', () => {
    const run = { display_name: 'resnet-foo-3', username: 'alice' };
    const contains = parseRunFilter({ $and: [{ display_name: { $contains: 'foo' } }] }, F);
    expect(matchesRunFilter(contains, run)).toBe(true);
    expect(matchesRunFilter(contains, { ...run, display_name: 'bar' })).toBe(false);
    const wrapped = parseRunFilter(
      JSON.stringify({ $or: [{ $and: [{ display_name: { $regex: '-\\d+$' } }, { username: 'alice' }] }] }),
      F,
    );
    expect(matchesRunFilter(wrapped, run)).toBe(true);
    expect(matchesRunFilter(wrapped, { ...run, username: 'bob' })).toBe(false);
    expect(matchesRunFilter(parseRunFilter({ $and: [] }, F), run)).toBe(true);
    expect(matchesRunFilter(parseRunFilter('"{\\"$and\\":[]}"', F), run)).toBe(true);
    const err = validationError(() => parseRunFilter({ $and: [{ config: 1 }] }, 'event.filter.run_filter'));
    expect(err.field).toBe('event.filter.run_filter.$and[0].config');
  });
});

// Random filters over two fields checked against the definitions of the logical operators.
describe('filter properties', () => {
  const value = fc.oneof(
    fc.constantFrom('a', 'b', 'ab', ''),
    fc.integer({ min: -2, max: 2 }),
    fc.constant(null),
  );
  const docValue = fc.oneof(
    value,
    fc.constant(undefined),
    fc.array(fc.constantFrom('a', 'b', 'ab'), { maxLength: 3 }),
  );
  const doc = fc.record({ x: docValue, y: docValue }, { requiredKeys: [] }).map((d) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d)) if (v !== undefined) out[k] = v;
    return out;
  });
  const scalarOp = fc.oneof(
    fc.record({ op: fc.constantFrom('$eq', '$ne'), v: value }),
    fc.record({
      op: fc.constantFrom('$gt', '$gte', '$lt', '$lte'),
      v: fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constantFrom('a', 'b')),
    }),
    fc.record({ op: fc.constantFrom('$in', '$nin'), v: fc.array(value, { maxLength: 3 }) }),
    fc.record({ op: fc.constant('$exists'), v: fc.boolean() }),
    fc.record({ op: fc.constant('$regex'), v: fc.constantFrom('^a', 'b$', 'a|b', '.') }),
    fc.record({ op: fc.constant('$contains'), v: fc.constantFrom('a', 'b', '') }),
  );
  const leaf = fc
    .record({ field: fc.constantFrom('x', 'y'), t: scalarOp })
    .map(({ field, t }) => ({ [field]: { [t.op]: t.v } }));
  const { tree } = fc.letrec<{ tree: Record<string, unknown> }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.record({ $and: fc.array(tie('tree'), { maxLength: 3 }) }),
      fc.record({ $or: fc.array(tie('tree'), { maxLength: 3 }) }),
      fc.record({ $nor: fc.array(tie('tree'), { maxLength: 3 }) }),
      fc.record({ $not: tie('tree') }),
    ),
  }));

  it('logical operators obey their definitions; string forms parse to the same filter', () => {
    fc.assert(
      fc.property(fc.array(tree, { minLength: 1, maxLength: 3 }), doc, (subs, d) => {
        const results = subs.map((s) => match(s, d));
        expect(match({ $and: subs }, d)).toBe(results.every(Boolean));
        expect(match({ $or: subs }, d)).toBe(results.some(Boolean));
        expect(match({ $nor: subs }, d)).toBe(!results.some(Boolean));
        expect(match({ $not: subs[0] }, d)).toBe(!results[0]);
        const expr: FilterExpr = parseFilter(subs[0], F);
        expect(parseFilter(JSON.stringify(subs[0]), F)).toEqual(expr);
        expect(parseFilter(JSON.stringify(JSON.stringify(subs[0])), F)).toEqual(expr);
      }),
      { numRuns: 2000 },
    );
  });

  it('$nin is the negation of $in, $ne of $eq, and $exists:false of $exists:true', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 3 }), value, doc, (list, v, d) => {
        expect(match({ x: { $nin: list } }, d)).toBe(!match({ x: { $in: list } }, d));
        expect(match({ x: { $ne: v } }, d)).toBe(!match({ x: { $eq: v } }, d));
        expect(match({ x: { $exists: false } }, d)).toBe(!match({ x: { $exists: true } }, d));
      }),
      { numRuns: 2000 },
    );
  });
});
