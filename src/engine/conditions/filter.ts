/**
 * W&B's MongoDB-like filter language, used for artifact event filters and run filters.
 *
 * Parsing validates everything up front (operators, operand types, regexes), so matching never throws.
 * Semantics follow MongoDB where W&B is silent:
 * - several keys in one object are ANDed; `{}` and `{"$and": []}` match everything;
 * - `{"field": value}` is `{"field": {"$eq": value}}`;
 * - a missing field fails every test except `$ne`, `$nin`, `$exists: false` and `$eq: null`;
 * - when the document's value is an array (e.g. a version's aliases), a test passes if any element passes,
 *   and `$ne` / `$nin` pass only if no element equals;
 * - `$gt`/`$gte`/`$lt`/`$lte` compare numbers with numbers and strings with strings, never across types;
 * - `$regex` is an unanchored RE2 search; `$contains` is a case-sensitive substring test.
 */
import { RE2JS } from 're2js';
import { ValidationError } from '../../model/errors.js';

export type Scalar = string | number | boolean | null;
export type CompareOp = '$eq' | '$ne' | '$gt' | '$gte' | '$lt' | '$lte';

export type FieldTest =
  | { op: CompareOp; value: Scalar }
  | { op: '$in' | '$nin'; values: Scalar[] }
  | { op: '$exists'; value: boolean }
  | { op: '$regex'; pattern: string; regex: RE2JS }
  | { op: '$contains'; value: string };

export type FilterExpr =
  | { kind: 'and' | 'or' | 'nor'; items: FilterExpr[] }
  | { kind: 'not'; item: FilterExpr }
  | { kind: 'field'; field: string; test: FieldTest };

export interface ParseFilterOptions {
  /** When given, a field name outside this list is a ValidationError. */
  allowedFields?: readonly string[];
}

export const MATCH_ALL: FilterExpr = Object.freeze({ kind: 'and', items: [] }) as FilterExpr;

const LOGICAL_OPS = ['$and', '$or', '$nor', '$not'];
const FIELD_OPS = [
  '$eq',
  '$ne',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$exists',
  '$regex',
  '$contains',
];
const ALL_OPS = [...LOGICAL_OPS, ...FIELD_OPS].join(' ');

/** Bounds on user input so a hostile filter cannot exhaust the stack or CPU. */
const MAX_DEPTH = 32;
const MAX_NODES = 1000;
const MAX_PATTERN_LENGTH = 1000;
const MAX_JSON_DECODES = 3;

/**
 * Compiles a user-supplied regex with RE2 (linear-time matching, so no catastrophic backtracking on
 * user data). RE2 has no backreferences or lookarounds; such patterns are rejected here, at save time.
 */
export function compileSafeRegex(pattern: unknown, field: string): RE2JS {
  if (typeof pattern !== 'string') {
    throw new ValidationError(`${field} must be a regular expression string`, field);
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new ValidationError(`${field} is longer than ${MAX_PATTERN_LENGTH} characters`, field);
  }
  try {
    return RE2JS.compile(pattern);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ValidationError(
      `${field} is not a supported regular expression (${why}); RE2 syntax is used: ` +
        'backreferences and lookarounds are not available',
      field,
    );
  }
}

/**
 * Parses a filter given as an object or as W&B's JSON string form (possibly encoded twice).
 * `field` is the dotted path of the input, used in error messages.
 */
export function parseFilter(input: unknown, field: string, options: ParseFilterOptions = {}): FilterExpr {
  const ctx: ParseContext = { nodes: 0, allowedFields: options.allowedFields };
  return parseExpr(decodeJson(input, field), field, ctx, 0);
}

export function matchesFilter(expr: FilterExpr, doc: Record<string, unknown>): boolean {
  switch (expr.kind) {
    case 'and':
      return expr.items.every((e) => matchesFilter(e, doc));
    case 'or':
      return expr.items.some((e) => matchesFilter(e, doc));
    case 'nor':
      return !expr.items.some((e) => matchesFilter(e, doc));
    case 'not':
      return !matchesFilter(expr.item, doc);
    case 'field':
      return testField(expr.test, lookup(doc, expr.field));
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers for the two filter shapes the engine uses.

export const ARTIFACT_FILTER_FIELDS = ['alias', 'tag', 'collection'] as const;
export const RUN_FILTER_FIELDS = ['display_name', 'username'] as const;

/** What an artifact event exposes to its filter. An alias/tag list matches if any element does. */
export interface ArtifactFilterDoc {
  alias?: string | readonly string[];
  tag?: string | readonly string[];
  collection?: string;
}

export interface RunFilterDoc {
  display_name: string;
  username: string;
}

/** An absent filter (undefined, null or an empty string) matches every event. */
export function parseArtifactFilter(input: unknown, field: string): FilterExpr {
  if (isAbsent(input)) return MATCH_ALL;
  return parseFilter(input, field, { allowedFields: ARTIFACT_FILTER_FIELDS });
}

export function matchesArtifactFilter(expr: FilterExpr, doc: ArtifactFilterDoc): boolean {
  return matchesFilter(expr, { ...doc });
}

/**
 * Run filters, e.g. `{"$and":[{"display_name":{"$contains":"foo"}}]}` or W&B's wrapped form
 * `{"$or":[{"$and":[...]}]}`. An absent filter matches every run.
 */
export function parseRunFilter(input: unknown, field: string): FilterExpr {
  if (isAbsent(input)) return MATCH_ALL;
  return parseFilter(input, field, { allowedFields: RUN_FILTER_FIELDS });
}

export function matchesRunFilter(expr: FilterExpr, run: RunFilterDoc): boolean {
  return matchesFilter(expr, { ...run });
}

// ---------------------------------------------------------------------------------------------------
// Parsing

interface ParseContext {
  nodes: number;
  allowedFields: readonly string[] | undefined;
}

function isAbsent(input: unknown): boolean {
  return input === undefined || input === null || (typeof input === 'string' && input.trim() === '');
}

/** W&B stores filters as JSON strings, and some exports encode them twice. */
function decodeJson(input: unknown, field: string): unknown {
  let value = input;
  for (let i = 0; typeof value === 'string'; i++) {
    if (i === MAX_JSON_DECODES) {
      throw new ValidationError(`${field} is a string nested too deeply to be a JSON filter`, field);
    }
    try {
      value = JSON.parse(value);
    } catch {
      throw new ValidationError(
        `${field} must be a filter object or its JSON string; got invalid JSON`,
        field,
      );
    }
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function count(ctx: ParseContext, field: string, depth: number): void {
  ctx.nodes += 1;
  if (ctx.nodes > MAX_NODES)
    throw new ValidationError(`${field}: filter has more than ${MAX_NODES} terms`, field);
  if (depth > MAX_DEPTH)
    throw new ValidationError(`${field}: filter is nested more than ${MAX_DEPTH} levels`, field);
}

function unknownOperator(op: string, path: string): ValidationError {
  return new ValidationError(`${path}: unknown operator ${op}; supported operators are ${ALL_OPS}`, path);
}

function conjunction(items: FilterExpr[]): FilterExpr {
  return items.length === 1 ? items[0] : { kind: 'and', items };
}

/** A document-level expression: logical operators and field names. */
function parseExpr(input: unknown, path: string, ctx: ParseContext, depth: number): FilterExpr {
  count(ctx, path, depth);
  if (!isPlainObject(input)) {
    throw new ValidationError(`${path} must be a filter object, got ${describe(input)}`, path);
  }
  const items: FilterExpr[] = [];
  for (const [key, value] of Object.entries(input)) {
    const keyPath = `${path}.${key}`;
    if (key === '$and' || key === '$or' || key === '$nor') {
      const list = expectArray(value, keyPath);
      const kind = key.slice(1) as 'and' | 'or' | 'nor';
      items.push({ kind, items: list.map((e, i) => parseExpr(e, `${keyPath}[${i}]`, ctx, depth + 1)) });
    } else if (key === '$not') {
      items.push({ kind: 'not', item: parseExpr(value, keyPath, ctx, depth + 1) });
    } else if (FIELD_OPS.includes(key)) {
      throw new ValidationError(
        `${keyPath}: ${key} must be applied to a field, e.g. {"alias": {"${key}": …}}`,
        keyPath,
      );
    } else if (key.startsWith('$')) {
      throw unknownOperator(key, keyPath);
    } else {
      if (key === '' || (ctx.allowedFields && !ctx.allowedFields.includes(key))) {
        const allowed = ctx.allowedFields ? `; allowed fields are ${ctx.allowedFields.join(', ')}` : '';
        throw new ValidationError(`${keyPath}: unknown field "${key}"${allowed}`, keyPath);
      }
      items.push(parseFieldCondition(key, value, keyPath, ctx, depth + 1));
    }
  }
  return conjunction(items);
}

/** The right-hand side of `{"field": …}`: a scalar (implicit $eq) or an object of operators. */
function parseFieldCondition(
  name: string,
  input: unknown,
  path: string,
  ctx: ParseContext,
  depth: number,
): FilterExpr {
  count(ctx, path, depth);
  if (!isPlainObject(input)) {
    return { kind: 'field', field: name, test: { op: '$eq', value: expectScalar(input, path) } };
  }
  const items: FilterExpr[] = [];
  for (const [op, value] of Object.entries(input)) {
    const opPath = `${path}.${op}`;
    if (!op.startsWith('$')) {
      throw new ValidationError(
        `${opPath}: expected an operator such as $eq or $regex; matching nested documents is not supported`,
        opPath,
      );
    }
    switch (op) {
      // Field-level logic (MongoDB's {"field": {"$not": {...}}}) is pushed down onto the same field.
      case '$not':
        items.push({ kind: 'not', item: parseFieldCondition(name, value, opPath, ctx, depth + 1) });
        break;
      case '$and':
      case '$or':
      case '$nor': {
        const list = expectArray(value, opPath).map((e, i) =>
          parseFieldCondition(name, e, `${opPath}[${i}]`, ctx, depth + 1),
        );
        items.push({ kind: op.slice(1) as 'and' | 'or' | 'nor', items: list });
        break;
      }
      default:
        items.push({ kind: 'field', field: name, test: parseFieldTest(op, value, opPath) });
    }
  }
  return conjunction(items);
}

function parseFieldTest(op: string, value: unknown, path: string): FieldTest {
  switch (op) {
    case '$eq':
    case '$ne':
      return { op, value: expectScalar(value, path) };
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string')
        return { op, value };
      throw new ValidationError(`${path} must be a finite number or a string, got ${describe(value)}`, path);
    case '$in':
    case '$nin':
      return { op, values: expectArray(value, path).map((v, i) => expectScalar(v, `${path}[${i}]`)) };
    case '$exists':
      if (typeof value === 'boolean') return { op, value };
      throw new ValidationError(`${path} must be true or false, got ${describe(value)}`, path);
    case '$regex':
      return { op, pattern: value as string, regex: compileSafeRegex(value, path) };
    case '$contains':
      if (typeof value === 'string') return { op, value };
      throw new ValidationError(`${path} must be a string, got ${describe(value)}`, path);
    default:
      throw unknownOperator(op, path);
  }
}

function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value))
    throw new ValidationError(`${path} must be an array, got ${describe(value)}`, path);
  return value;
}

function expectScalar(value: unknown, path: string): Scalar {
  if (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  ) {
    return value;
  }
  throw new ValidationError(
    `${path} must be a string, finite number, boolean or null, got ${describe(value)}`,
    path,
  );
}

// ---------------------------------------------------------------------------------------------------
// Matching

/** An own property first (field names may contain dots), else a dotted path through nested objects. */
function lookup(doc: Record<string, unknown>, field: string): unknown {
  if (Object.hasOwn(doc, field)) return doc[field];
  let current: unknown = doc;
  for (const part of field.split('.')) {
    if (!isPlainObject(current) || !Object.hasOwn(current, part)) return undefined;
    current = current[part];
  }
  return current;
}

function equals(a: unknown, b: Scalar): boolean {
  if (b === null) return a === null || a === undefined;
  return a === b;
}

function testField(test: FieldTest, value: unknown): boolean {
  switch (test.op) {
    case '$exists':
      return (value !== undefined) === test.value;
    case '$ne':
      return !anyElement(value, (v) => equals(v, test.value));
    case '$nin':
      return !anyElement(value, (v) => test.values.some((x) => equals(v, x)));
    default:
      return anyElement(value, (v) => testScalar(test, v));
  }
}

/** MongoDB array semantics: a test on an array field passes if any element passes. */
function anyElement(value: unknown, pred: (v: unknown) => boolean): boolean {
  return Array.isArray(value) ? value.some(pred) : pred(value);
}

function testScalar(test: FieldTest, v: unknown): boolean {
  switch (test.op) {
    case '$eq':
      return equals(v, test.value);
    case '$in':
      return test.values.some((x) => equals(v, x));
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      return compare(v, test.op, test.value as number | string);
    case '$regex':
      return typeof v === 'string' && test.regex.test(v);
    case '$contains':
      return typeof v === 'string' && v.includes(test.value);
    default:
      return false;
  }
}

function compare(v: unknown, op: '$gt' | '$gte' | '$lt' | '$lte', bound: number | string): boolean {
  if (typeof v !== typeof bound || (typeof v === 'number' && Number.isNaN(v))) return false;
  const x = v as number | string;
  switch (op) {
    case '$gt':
      return x > bound;
    case '$gte':
      return x >= bound;
    case '$lt':
      return x < bound;
    case '$lte':
      return x <= bound;
  }
}
