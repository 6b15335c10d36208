/**
 * Webhook payload templates (reference.md §4).
 *
 * A template is a JSON value (the automation's `action.payload`, already parsed). Rendering walks
 * that value and substitutes `${name}` inside strings and object keys, then serialises the result
 * with JSON.stringify. Because values are never spliced into JSON text, no value (quotes,
 * backslashes, newlines, unicode, `}`) can break the payload or inject structure.
 *
 * Rules:
 * - A string that is exactly `"${x}"` takes x's JSON type (number, boolean, object, null…);
 *   anywhere else x is rendered as text (objects/arrays as their JSON text).
 * - A missing value renders as `null` when it is the whole string and `""` inside a string.
 *   Non-finite numbers (NaN, ±Infinity) cannot be JSON, so a whole `"${metric_value}"` of NaN
 *   renders as `null`; inside a string it reads `NaN` / `Infinity`, which is what a person wants
 *   to see in "loss is ${metric_value}".
 * - Built-in names win over a team secret of the same name (such a secret cannot be referenced).
 * - `${ACCESS_TOKEN}` is the integration's access-token secret, passed in `secrets.ACCESS_TOKEN`.
 * - There is no escape for a literal `${name}`; an unknown name is rejected at save time.
 */
import { ValidationError } from '../model/errors.js';

export const MASK = '••••••';

const PAYLOAD_FIELD = 'action.payload';
const ACCESS_TOKEN = 'ACCESS_TOKEN';
const METADATA_PREFIX = 'artifact_metadata.';

// `[^${}]` keeps a stray `${` or `}` from swallowing the next variable.
const VARIABLE = /\$\{([^${}]*)\}/g;
const WHOLE_VARIABLE = /^\$\{([^${}]*)\}$/;
const SECRET_NAME = /^[A-Za-z0-9_]+$/;

const BUILTIN_VARIABLES: ReadonlyArray<{ name: string; description: string }> = [
  { name: 'project_name', description: 'Project (or registry project) the event happened in' },
  { name: 'entity_name', description: 'Team (W&B entity) that owns the project' },
  { name: 'event_type', description: 'Event that fired, e.g. RUN_STATE or ADD_ARTIFACT_ALIAS' },
  { name: 'event_author', description: 'User who caused the event' },
  { name: 'alias', description: 'Alias that was added (artifact alias events)' },
  { name: 'tag', description: 'Tag that was added or removed (artifact tag events)' },
  { name: 'artifact_collection_name', description: 'Artifact collection name' },
  {
    name: 'artifact_metadata.KEY',
    description: 'Value of metadata key KEY of the artifact version (dots reach nested keys)',
  },
  { name: 'artifact_version', description: 'Artifact version, e.g. v3' },
  {
    name: 'artifact_version_string',
    description: 'Full version path: <team>/<project>/<collection>:<alias or vN>',
  },
  { name: 'run_name', description: 'Display name of the run' },
  { name: 'run_id', description: 'Id of the run' },
  { name: 'run_state', description: 'New state of the run (RUNNING, FINISHED, FAILED)' },
  { name: 'metric_name', description: 'Metric that triggered the automation' },
  { name: 'metric_value', description: 'Value of the metric that triggered the automation (a number)' },
  { name: ACCESS_TOKEN, description: "The integration's access token (masked in history)" },
];

const BUILTIN_NAMES = new Set(
  BUILTIN_VARIABLES.map((v) => v.name).filter((name) => name !== 'artifact_metadata.KEY'),
);

export interface TemplateVariable {
  name: string;
  description: string;
}

/** Variables the UI offers; pass the integration's secret names to list them too. */
export function listTemplateVariables(opts: { secretNames?: string[] } = {}): TemplateVariable[] {
  const secrets = (opts.secretNames ?? [])
    .filter((name) => SECRET_NAME.test(name) && !BUILTIN_NAMES.has(name))
    .map((name) => ({ name, description: `Secret ${name} of the integration (masked in history)` }));
  return [...BUILTIN_VARIABLES.map((v) => ({ ...v })), ...secrets];
}

/**
 * Save-time check: every `${name}` must be a built-in variable or one of the integration's own
 * secrets, so a typo fails when the automation is saved rather than when it fires.
 */
export function validateTemplate(payload: unknown, opts: { secretNames: string[] }): void {
  const secrets = new Set(opts.secretNames);
  const check = (text: string): void => {
    for (const match of text.matchAll(VARIABLE)) {
      const name = match[1];
      if (classify(name, secrets) === undefined) {
        const hint = SECRET_NAME.test(name)
          ? ` (not a built-in variable nor a secret of this integration${
              opts.secretNames.length > 0 ? `: ${opts.secretNames.join(', ')}` : ''
            })`
          : '';
        throw new ValidationError(
          `unknown variable \${${name}} in the payload${hint}; see the list of template variables`,
          PAYLOAD_FIELD,
        );
      }
    }
  };
  walk(payload, check, 'payload');
}

type VariableKind = 'builtin' | 'metadata' | 'secret';

function classify(name: string, secrets: { has(name: string): boolean }): VariableKind | undefined {
  if (BUILTIN_NAMES.has(name)) return name === ACCESS_TOKEN ? 'secret' : 'builtin';
  if (name.startsWith(METADATA_PREFIX) && name.length > METADATA_PREFIX.length) return 'metadata';
  if (SECRET_NAME.test(name) && secrets.has(name)) return 'secret';
  return undefined;
}

/** Visits every string and object key of a JSON value; rejects what JSON cannot hold. */
function walk(value: unknown, visit: (text: string) => void, path: string): void {
  if (typeof value === 'string') {
    visit(value);
  } else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) walk(item, visit, `${path}[${i}]`);
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      visit(key);
      walk(item, visit, `${path}.${key}`);
    }
  } else if (!(value === null || typeof value === 'boolean' || Number.isFinite(value))) {
    throw new ValidationError(`the payload must be JSON; ${path} is not a JSON value`, PAYLOAD_FIELD);
  }
}

export interface RenderedTemplate {
  /** The request body: valid JSON whatever the values contain. */
  body: string;
  /** The same body with every secret value (and ACCESS_TOKEN) masked, for the history. */
  masked: string;
}

/**
 * Renders a validated template. `vars` holds the event's values by variable name, with
 * `artifact_metadata` as the metadata object; `secrets` maps secret names (and ACCESS_TOKEN)
 * to their plaintext values. Unknown names render as missing values.
 */
export function renderTemplate(
  payload: unknown,
  vars: Record<string, unknown>,
  secrets: Record<string, string>,
): RenderedTemplate {
  const secretNames = { has: (name: string) => Object.hasOwn(secrets, name) };
  const resolve = (name: string, masked: boolean): unknown => {
    switch (classify(name, secretNames)) {
      case 'builtin':
        return own(vars, name);
      case 'metadata':
        return metadataValue(own(vars, 'artifact_metadata'), name.slice(METADATA_PREFIX.length));
      case 'secret':
        if (!Object.hasOwn(secrets, name)) return undefined;
        return masked ? MASK : secrets[name];
      default:
        return undefined;
    }
  };
  const body = JSON.stringify(substitute(payload, (name) => resolve(name, false)));
  // Masking at the substitution points covers template use; scrubbing every string afterwards
  // also catches a secret value that reached the payload another way (pasted into the template,
  // or present in an event value). Longest first so a secret containing another is masked whole.
  const secretValues = Object.values(secrets)
    .filter((v) => v.length > 0)
    .sort((a, b) => b.length - a.length);
  const scrub = (text: string): string =>
    secretValues.reduce((out, secret) => out.split(secret).join(MASK), text);
  const masked = JSON.stringify(
    mapStrings(
      substitute(payload, (name) => resolve(name, true)),
      scrub,
    ),
  );
  return { body, masked };
}

function substitute(value: unknown, resolve: (name: string) => unknown): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_VARIABLE.exec(value);
    if (whole) return toJsonValue(resolve(whole[1]));
    return value.replace(VARIABLE, (_, name: string) => toText(resolve(name)));
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, resolve));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // Two keys may render to the same text; the later one wins, as in JSON.parse.
      setOwn(
        out,
        key.replace(VARIABLE, (_, name: string) => toText(resolve(name))),
        substitute(item, resolve),
      );
    }
    return out;
  }
  return toJsonValue(value);
}

function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, fn));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) setOwn(out, fn(key), mapStrings(item, fn));
    return out;
  }
  return value;
}

/** A value as it appears inside a larger string. */
function toText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  const json = toJsonValue(value);
  return typeof json === 'string' ? json : json === null ? '' : JSON.stringify(json);
}

/** A value standing for a whole string: keeps its JSON type; anything JSON cannot hold → null. */
function toJsonValue(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : String(value);
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined && typeof item !== 'function' && typeof item !== 'symbol') {
        setOwn(out, key, toJsonValue(item));
      }
    }
    return out;
  }
  return null;
}

/** `artifact_metadata.a.b`: the key `a.b` if the metadata has it, else the nested path a → b. */
function metadataValue(metadata: unknown, key: string): unknown {
  if (!isPlainObject(metadata)) return undefined;
  if (Object.hasOwn(metadata, key)) return metadata[key];
  let current: unknown = metadata;
  for (const part of key.split('.')) {
    if (!isPlainObject(current) || !Object.hasOwn(current, part)) return undefined;
    current = current[part];
  }
  return current;
}

function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Plain assignment of `__proto__` would change the prototype instead of adding a key. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
