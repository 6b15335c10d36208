import type { Kysely } from 'kysely';
import { validateTemplate } from '../actions/template.js';
import { parseArtifactFilter, parseRunFilter } from '../engine/conditions/filter.js';
import {
  validateChangeFilter,
  validateThresholdFilter,
  validateZScoreFilter,
} from '../engine/conditions/metric.js';
import { findIntegration, integrationSecretNames } from '../integrations/queries.js';
import { ValidationError } from '../model/errors.js';
import { AUTOMATION_EVENTS, type AutomationEventType } from '../model/events.js';
import type { DB } from '../store/schema.js';

export type ScopeType = 'TEAM' | 'PROJECT' | 'REGISTRY' | 'ARTIFACT_COLLECTION';
export type ActionType = 'NOTIFICATION' | 'GENERIC_WEBHOOK' | 'NO_OP';

/** Which scopes each event may be watched in (reference §2). */
export const EVENT_SCOPES: Record<AutomationEventType, ScopeType[]> = {
  CREATE_ARTIFACT: ['ARTIFACT_COLLECTION', 'PROJECT'],
  ADD_ARTIFACT_ALIAS: ['ARTIFACT_COLLECTION', 'PROJECT', 'REGISTRY', 'TEAM'],
  ADD_ARTIFACT_TAG: ['ARTIFACT_COLLECTION', 'PROJECT', 'REGISTRY', 'TEAM'],
  REMOVE_ARTIFACT_TAG: ['ARTIFACT_COLLECTION', 'PROJECT', 'REGISTRY', 'TEAM'],
  LINK_ARTIFACT: ['REGISTRY', 'ARTIFACT_COLLECTION', 'TEAM'],
  UNLINK_ARTIFACT: ['REGISTRY', 'ARTIFACT_COLLECTION', 'TEAM'],
  RUN_STATE: ['PROJECT', 'TEAM'],
  RUN_METRIC: ['PROJECT', 'TEAM'],
  RUN_METRIC_CHANGE: ['PROJECT', 'TEAM'],
  RUN_METRIC_ZSCORE: ['PROJECT', 'TEAM'],
};

/** W&B's other names for the same events. */
const EVENT_ALIASES: Record<string, AutomationEventType> = { LINK_MODEL: 'LINK_ARTIFACT' };

export const DEFAULT_RATE_LIMIT_PER_HOUR = 60;
export const DEFAULT_COOLDOWN_SECONDS = 0;

/** The normalised event filter stored with an automation (plain JSON, re-compiled by the engine). */
export interface StoredFilter {
  /** Artifact events: a W&B filter over alias / tag / collection. */
  artifact?: unknown;
  run_filter?: unknown;
  run_state_filter?: { states: Array<'RUNNING' | 'FINISHED' | 'FAILED'> };
  threshold_filter?: unknown;
  change_filter?: unknown;
  zscore_filter?: unknown;
}

export interface StoredAction {
  type: ActionType;
  integrationId?: string;
  payload?: unknown;
  title?: string;
  message?: string;
  severity?: 'INFO' | 'WARN' | 'ERROR';
}

export interface ScopeInput {
  type: ScopeType;
  team: string;
  project?: string;
  registry?: string;
  collection?: string;
}

export interface AutomationDefinition {
  name: string;
  description: string;
  enabled: boolean;
  scope: ScopeInput;
  eventType: AutomationEventType;
  filter: StoredFilter;
  action: StoredAction;
  rateLimitPerHour: number;
  cooldownSeconds: number;
}

const obj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** W&B sends filters as JSON strings (sometimes a JSON string of a JSON string). */
export function decodeJsonish(v: unknown, field: string): unknown {
  let cur = v;
  for (let i = 0; i < 3 && typeof cur === 'string'; i++) {
    if (cur.trim() === '') return undefined;
    try {
      cur = JSON.parse(cur);
    } catch {
      throw new ValidationError(`${field} is a string but not valid JSON`, field);
    }
  }
  return cur;
}

function str(v: unknown, field: string, max: number, required = true): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw new ValidationError(`${field} is required`, field);
    return undefined;
  }
  if (typeof v !== 'string' || (required && v.trim() === '') || v.length > max) {
    throw new ValidationError(`${field} must be a non-empty string of at most ${max} characters`, field);
  }
  return v;
}

function intIn(v: unknown, field: string, min: number, max: number, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(`${field} must be a whole number from ${min} to ${max}`, field);
  }
  return v;
}

export function parseScope(v: unknown): ScopeInput {
  if (!obj(v))
    throw new ValidationError(
      'scope must be an object like {"type":"PROJECT","team":"…","project":"…"}',
      'scope',
    );
  const type = v.type;
  if (type !== 'TEAM' && type !== 'PROJECT' && type !== 'REGISTRY' && type !== 'ARTIFACT_COLLECTION') {
    throw new ValidationError(
      'scope.type must be TEAM, PROJECT, REGISTRY or ARTIFACT_COLLECTION',
      'scope.type',
    );
  }
  const team = str(v.team, 'scope.team', 128)!;
  const scope: ScopeInput = { type, team };
  if (type === 'PROJECT') scope.project = str(v.project, 'scope.project', 128);
  if (type === 'REGISTRY') scope.registry = str(v.registry, 'scope.registry', 128);
  if (type === 'ARTIFACT_COLLECTION') {
    scope.collection = str(v.collection, 'scope.collection', 128);
    if ((v.project === undefined) === (v.registry === undefined)) {
      throw new ValidationError(
        'an ARTIFACT_COLLECTION scope names either a project or a registry',
        'scope.project',
      );
    }
    if (v.project !== undefined) scope.project = str(v.project, 'scope.project', 128);
    else scope.registry = str(v.registry, 'scope.registry', 128);
  }
  return scope;
}

const RUN_STATE_CHOICES = new Set(['RUNNING', 'FINISHED', 'FAILED']);

/** Validates and normalises an event filter for its event type; errors name the exact field. */
export function parseEventFilter(type: AutomationEventType, raw: unknown): StoredFilter {
  const f = decodeJsonish(raw, 'event.filter');
  if (f !== undefined && f !== null && !obj(f))
    throw new ValidationError('event.filter must be an object', 'event.filter');
  const filter = (f ?? {}) as Record<string, unknown>;
  if (type === 'RUN_STATE' || type.startsWith('RUN_METRIC')) {
    const known = [
      'run_filter',
      'run_state_filter',
      'threshold_filter',
      'change_filter',
      'zscore_filter',
      'run_metric_filter',
    ];
    for (const k of Object.keys(filter)) {
      if (!known.includes(k))
        throw new ValidationError(`event.filter.${k} is not a filter of ${type}`, `event.filter.${k}`);
    }
    const runFilter = decodeJsonish(filter.run_filter, 'event.filter.run_filter');
    parseRunFilter(runFilter, 'event.filter.run_filter');
    const out: StoredFilter = {};
    if (runFilter !== undefined) out.run_filter = runFilter;
    // W&B nests metric filters under run_metric_filter; accept both shapes.
    const metric = obj(filter.run_metric_filter) ? filter.run_metric_filter : filter;
    if (type === 'RUN_STATE') {
      const rsf = decodeJsonish(filter.run_state_filter, 'event.filter.run_state_filter');
      if (!obj(rsf) || !Array.isArray(rsf.states) || rsf.states.length === 0) {
        throw new ValidationError(
          'event.filter.run_state_filter.states must list one or more of RUNNING, FINISHED, FAILED',
          'event.filter.run_state_filter.states',
        );
      }
      const states = new Set<'RUNNING' | 'FINISHED' | 'FAILED'>();
      for (const s of rsf.states) {
        const up = typeof s === 'string' ? s.toUpperCase() : s;
        if (up === 'CRASHED')
          states.add('FAILED'); // CRASHED counts as FAILED
        else if (typeof up === 'string' && RUN_STATE_CHOICES.has(up)) states.add(up as 'RUNNING');
        else {
          throw new ValidationError(
            `event.filter.run_state_filter.states: "${String(s)}" is not RUNNING, FINISHED or FAILED (KILLED runs never trigger)`,
            'event.filter.run_state_filter.states',
          );
        }
      }
      out.run_state_filter = { states: [...states] };
    } else if (type === 'RUN_METRIC') {
      out.threshold_filter = validateThresholdFilter(
        decodeJsonish(metric.threshold_filter, 'event.filter.threshold_filter'),
        'event.filter.threshold_filter',
      );
    } else if (type === 'RUN_METRIC_CHANGE') {
      out.change_filter = validateChangeFilter(
        decodeJsonish(metric.change_filter, 'event.filter.change_filter'),
        'event.filter.change_filter',
      );
    } else {
      out.zscore_filter = validateZScoreFilter(
        decodeJsonish(metric.zscore_filter, 'event.filter.zscore_filter'),
        'event.filter.zscore_filter',
      );
    }
    return out;
  }
  // Artifact events: the whole filter is a W&B expression over alias / tag / collection.
  parseArtifactFilter(f, 'event.filter');
  return f === undefined || f === null ? {} : { artifact: f };
}

async function parseAction(db: Kysely<DB>, teamId: string, v: unknown): Promise<StoredAction> {
  if (!obj(v)) throw new ValidationError('action must be an object with a type', 'action');
  const type = v.type;
  if (type === 'NO_OP') return { type };
  if (type !== 'NOTIFICATION' && type !== 'GENERIC_WEBHOOK') {
    throw new ValidationError('action.type must be NOTIFICATION, GENERIC_WEBHOOK or NO_OP', 'action.type');
  }
  const integrationId = str(v.integrationId, 'action.integrationId', 64)!;
  const integration = await findIntegration(db, teamId, integrationId);
  if (!integration) {
    throw new ValidationError(
      `integration "${integrationId}" is not an integration of this team`,
      'action.integrationId',
    );
  }
  if (type === 'GENERIC_WEBHOOK') {
    if (integration.kind !== 'webhook') {
      throw new ValidationError(
        `integration "${integration.name}" is ${integration.kind}, not a webhook`,
        'action.integrationId',
      );
    }
    const payload = decodeJsonish(v.payload, 'action.payload');
    if (payload === undefined)
      throw new ValidationError('action.payload is required (a JSON template)', 'action.payload');
    validateTemplate(payload, { secretNames: integrationSecretNames(integration) });
    return { type, integrationId, payload };
  }
  if (integration.kind !== 'slack') {
    throw new ValidationError(
      `integration "${integration.name}" is ${integration.kind}, not Slack`,
      'action.integrationId',
    );
  }
  const severity = v.severity ?? 'INFO';
  if (severity !== 'INFO' && severity !== 'WARN' && severity !== 'ERROR') {
    throw new ValidationError('action.severity must be INFO, WARN or ERROR', 'action.severity');
  }
  return {
    type,
    integrationId,
    title: str(v.title, 'action.title', 150, false),
    message: str(v.message, 'action.message', 3000, false),
    severity,
  };
}

/** Validates a full automation body (create, or the merged result of a PATCH). */
export async function parseDefinition(
  db: Kysely<DB>,
  body: Record<string, unknown>,
  resolveTeamId: (scope: ScopeInput) => Promise<string>,
): Promise<AutomationDefinition> {
  const name = str(body.name, 'name', 128)!;
  const description = str(body.description, 'description', 2000, false) ?? '';
  if (body.enabled !== undefined && typeof body.enabled !== 'boolean') {
    throw new ValidationError('enabled must be true or false', 'enabled');
  }
  const scope = parseScope(body.scope);
  const event = body.event;
  if (!obj(event))
    throw new ValidationError('event must be an object like {"type":"RUN_STATE","filter":{…}}', 'event');
  const rawType = typeof event.type === 'string' ? (EVENT_ALIASES[event.type] ?? event.type) : event.type;
  if (typeof rawType !== 'string' || !(AUTOMATION_EVENTS as readonly string[]).includes(rawType)) {
    throw new ValidationError(`event.type must be one of ${AUTOMATION_EVENTS.join(', ')}`, 'event.type');
  }
  const eventType = rawType as AutomationEventType;
  if (!EVENT_SCOPES[eventType].includes(scope.type)) {
    throw new ValidationError(
      `${eventType} can be watched in scope ${EVENT_SCOPES[eventType].join(' or ')}, not ${scope.type}`,
      'event.type',
    );
  }
  if (eventType === 'CREATE_ARTIFACT' && scope.type === 'ARTIFACT_COLLECTION' && scope.registry) {
    throw new ValidationError(
      'CREATE_ARTIFACT watches collections in a project, not a registry',
      'scope.registry',
    );
  }
  if (
    (eventType === 'LINK_ARTIFACT' || eventType === 'UNLINK_ARTIFACT') &&
    scope.type === 'ARTIFACT_COLLECTION' &&
    scope.project
  ) {
    throw new ValidationError(
      `${eventType} watches collections in a registry, not a project`,
      'scope.project',
    );
  }
  const filter = parseEventFilter(eventType, event.filter);
  const teamId = await resolveTeamId(scope);
  const action = await parseAction(db, teamId, body.action);
  return {
    name,
    description,
    enabled: body.enabled === undefined ? true : (body.enabled as boolean),
    scope,
    eventType,
    filter,
    action,
    rateLimitPerHour: intIn(
      body.rateLimitPerHour,
      'rateLimitPerHour',
      0,
      1_000_000,
      DEFAULT_RATE_LIMIT_PER_HOUR,
    ),
    cooldownSeconds: intIn(body.cooldownSeconds, 'cooldownSeconds', 0, 7 * 86400, DEFAULT_COOLDOWN_SECONDS),
  };
}
