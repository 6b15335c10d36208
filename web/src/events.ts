/** Events, their scopes, and the conversion between the form's fields and the wire filter (reference §2–3). */
import type { Action, AutomationInput, EventType, Integration, Scope, ScopeType } from './api.js';

export const EVENT_LABELS: Record<EventType, string> = {
  CREATE_ARTIFACT: 'An artifact version is created',
  ADD_ARTIFACT_ALIAS: 'An alias is added to a version',
  ADD_ARTIFACT_TAG: 'A tag is added to a version',
  REMOVE_ARTIFACT_TAG: 'A tag is removed from a version',
  LINK_ARTIFACT: 'A version is linked to the registry',
  UNLINK_ARTIFACT: 'A version is unlinked from the registry',
  RUN_STATE: 'A run changes state',
  RUN_METRIC: 'A run metric crosses a threshold',
  RUN_METRIC_CHANGE: 'A run metric changes by an amount',
  RUN_METRIC_ZSCORE: 'A run metric is an outlier (z-score)',
};

const SCOPES: Record<EventType, ('COLLECTION' | 'PROJECT' | 'REGISTRY' | 'TEAM')[]> = {
  CREATE_ARTIFACT: ['COLLECTION', 'PROJECT'],
  ADD_ARTIFACT_ALIAS: ['COLLECTION', 'PROJECT', 'REGISTRY', 'TEAM'],
  ADD_ARTIFACT_TAG: ['COLLECTION', 'PROJECT', 'REGISTRY', 'TEAM'],
  REMOVE_ARTIFACT_TAG: ['COLLECTION', 'PROJECT', 'REGISTRY', 'TEAM'],
  LINK_ARTIFACT: ['REGISTRY', 'COLLECTION', 'TEAM'],
  UNLINK_ARTIFACT: ['REGISTRY', 'COLLECTION', 'TEAM'],
  RUN_STATE: ['PROJECT', 'TEAM'],
  RUN_METRIC: ['PROJECT', 'TEAM'],
  RUN_METRIC_CHANGE: ['PROJECT', 'TEAM'],
  RUN_METRIC_ZSCORE: ['PROJECT', 'TEAM'],
};

/**
 * The events a scope allows. A collection inside a project gets artifact-creation events; a
 * collection inside a registry gets link events.
 */
export function eventsForScope(scope: Scope): EventType[] {
  const all = Object.keys(SCOPES) as EventType[];
  if (scope.type === 'ARTIFACT_COLLECTION') {
    return all.filter((e) => {
      if (!SCOPES[e].includes('COLLECTION')) return false;
      if (scope.registry) return e !== 'CREATE_ARTIFACT';
      return e !== 'LINK_ARTIFACT' && e !== 'UNLINK_ARTIFACT';
    });
  }
  const key = scope.type as Exclude<ScopeType, 'ARTIFACT_COLLECTION'>;
  return all.filter((e) => SCOPES[e].includes(key));
}

export const isRunEvent = (t: EventType) => t.startsWith('RUN_');
export const isMetricEvent = (t: EventType) => t.startsWith('RUN_METRIC');

export const CMP_OPS: { op: string; label: string; symbol: string }[] = [
  { op: '$gt', label: 'above', symbol: '>' },
  { op: '$gte', label: 'above or equal', symbol: '≥' },
  { op: '$lt', label: 'below', symbol: '<' },
  { op: '$lte', label: 'below or equal', symbol: '≤' },
  { op: '$eq', label: 'equal to', symbol: '=' },
  { op: '$ne', label: 'not equal to', symbol: '≠' },
];

/** Everything the form edits, as strings where the user types numbers. */
export type FormState = {
  scopeLevel: 'place' | 'collection';
  collection: string;
  eventType: EventType;
  pattern: string;
  runName: string;
  user: string;
  states: string[];
  metric: string;
  agg: string;
  window: string;
  cmp: string;
  threshold: string;
  currentWindow: string;
  priorWindow: string;
  changeType: string;
  changeDir: string;
  changeAmount: string;
  zWindow: string;
  zThreshold: string;
  zDir: string;
  actionType: Action['type'];
  integrationId: string;
  title: string;
  message: string;
  severity: string;
  payloadText: string;
  name: string;
  description: string;
  enabled: boolean;
  rateLimit: string;
  cooldown: string;
};

export const DEFAULT_PAYLOAD = `{
  "text": "\${event_type} in \${entity_name}/\${project_name}",
  "run": "\${run_name}",
  "state": "\${run_state}"
}`;

export function defaultForm(eventType: EventType): FormState {
  return {
    scopeLevel: 'place',
    collection: '',
    eventType,
    pattern: '',
    runName: '',
    user: '',
    states: ['FAILED'],
    metric: '',
    agg: 'AVERAGE',
    window: '5',
    cmp: '$gt',
    threshold: '',
    currentWindow: '10',
    priorWindow: '50',
    changeType: 'ABSOLUTE',
    changeDir: 'ANY',
    changeAmount: '',
    zWindow: '30',
    zThreshold: '2',
    zDir: 'ANY',
    actionType: 'GENERIC_WEBHOOK',
    integrationId: '',
    title: '',
    message: '',
    severity: 'INFO',
    payloadText: DEFAULT_PAYLOAD,
    name: '',
    description: '',
    enabled: true,
    rateLimit: '60',
    cooldown: '0',
  };
}

const num = (s: string): number | string => {
  const t = s.trim();
  if (t === '') return s;
  const n = Number(t);
  return Number.isFinite(n) ? n : s;
};

export function buildScope(base: Scope, s: FormState): Scope {
  if (s.scopeLevel === 'collection') {
    return {
      type: 'ARTIFACT_COLLECTION',
      team: base.team,
      project: base.project,
      registry: base.registry,
      collection: s.collection.trim(),
    };
  }
  return base;
}

export function buildFilter(s: FormState): unknown {
  const t = s.eventType;
  if (!isRunEvent(t)) {
    const field = t === 'ADD_ARTIFACT_ALIAS' ? 'alias' : t.includes('TAG') ? 'tag' : null;
    const tests = field && s.pattern.trim() ? [{ [field]: { $regex: s.pattern.trim() } }] : [];
    return { $or: [{ $and: tests }] };
  }
  const runTests: unknown[] = [];
  if (s.runName.trim()) runTests.push({ display_name: { $regex: s.runName.trim() } });
  if (s.user.trim()) runTests.push({ username: { $eq: s.user.trim() } });
  const filter: Record<string, unknown> = { run_filter: { $and: runTests } };
  if (t === 'RUN_STATE') filter.run_state_filter = { states: s.states };
  if (t === 'RUN_METRIC')
    filter.threshold_filter = {
      name: s.metric.trim(),
      agg_op: s.agg,
      window_size: num(s.window),
      cmp_op: s.cmp,
      threshold: num(s.threshold),
    };
  if (t === 'RUN_METRIC_CHANGE')
    filter.change_filter = {
      name: s.metric.trim(),
      agg_op: s.agg,
      current_window_size: num(s.currentWindow),
      prior_window_size: num(s.priorWindow),
      change_type: s.changeType,
      change_dir: s.changeDir,
      change_amount: num(s.changeAmount),
    };
  if (t === 'RUN_METRIC_ZSCORE')
    filter.zscore_filter = {
      name: s.metric.trim(),
      window_size: num(s.zWindow),
      threshold: num(s.zThreshold),
      change_dir: s.zDir,
    };
  return filter;
}

export function buildAction(s: FormState, payload: unknown): Action {
  if (s.actionType === 'NO_OP') return { type: 'NO_OP' };
  if (s.actionType === 'NOTIFICATION')
    return {
      type: 'NOTIFICATION',
      integrationId: s.integrationId,
      title: s.title.trim() || undefined,
      message: s.message.trim() || undefined,
      severity: s.severity,
    };
  return { type: 'GENERIC_WEBHOOK', integrationId: s.integrationId, payload };
}

function parseJson(v: unknown): any {
  if (typeof v !== 'string') return v ?? {};
  try {
    return JSON.parse(v);
  } catch {
    return {};
  }
}

/** Collects `{field: {$op: value}}` tests anywhere inside a W&B-style filter. */
function fieldTests(filter: any, out: Record<string, Record<string, unknown>> = {}) {
  if (Array.isArray(filter)) for (const f of filter) fieldTests(f, out);
  else if (filter && typeof filter === 'object')
    for (const [k, v] of Object.entries(filter)) {
      if (k.startsWith('$')) fieldTests(v, out);
      else if (v && typeof v === 'object') out[k] = v as Record<string, unknown>;
    }
  return out;
}

const str = (v: unknown, d = '') => (v === undefined || v === null ? d : String(v));

/** Turns a saved automation back into form fields. */
export function formFromAutomation(a: AutomationInput): FormState {
  const s = defaultForm(a.event.type);
  s.scopeLevel = a.scope.type === 'ARTIFACT_COLLECTION' ? 'collection' : 'place';
  s.collection = a.scope.collection ?? '';
  const filter = parseJson(a.event.filter);
  if (isRunEvent(a.event.type)) {
    const run = fieldTests(parseJson(filter.run_filter));
    s.runName = str(run.display_name?.$regex ?? run.display_name?.$contains);
    s.user = str(run.username?.$eq);
    if (filter.run_state_filter?.states) s.states = filter.run_state_filter.states;
    const th = filter.threshold_filter;
    if (th)
      Object.assign(s, {
        metric: str(th.name),
        agg: str(th.agg_op, 'AVERAGE'),
        window: str(th.window_size, '5'),
        cmp: str(th.cmp_op, '$gt'),
        threshold: str(th.threshold),
      });
    const ch = filter.change_filter;
    if (ch)
      Object.assign(s, {
        metric: str(ch.name),
        agg: str(ch.agg_op, 'AVERAGE'),
        currentWindow: str(ch.current_window_size, '10'),
        priorWindow: str(ch.prior_window_size, '50'),
        changeType: str(ch.change_type, 'ABSOLUTE'),
        changeDir: str(ch.change_dir, 'ANY'),
        changeAmount: str(ch.change_amount),
      });
    const z = filter.zscore_filter;
    if (z)
      Object.assign(s, {
        metric: str(z.name),
        zWindow: str(z.window_size, '30'),
        zThreshold: str(z.threshold, '2'),
        zDir: str(z.change_dir, 'ANY'),
      });
  } else {
    const tests = fieldTests(filter);
    s.pattern = str((tests.alias ?? tests.tag)?.$regex);
  }
  s.actionType = a.action.type;
  if (a.action.type !== 'NO_OP') s.integrationId = a.action.integrationId ?? '';
  if (a.action.type === 'NOTIFICATION') {
    s.title = a.action.title ?? '';
    s.message = a.action.message ?? '';
    s.severity = a.action.severity ?? 'INFO';
  }
  if (a.action.type === 'GENERIC_WEBHOOK')
    s.payloadText =
      typeof a.action.payload === 'string' ? a.action.payload : JSON.stringify(a.action.payload, null, 2);
  s.name = a.name;
  s.description = a.description ?? '';
  s.enabled = a.enabled;
  if (a.rateLimitPerHour !== undefined) s.rateLimit = String(a.rateLimitPerHour);
  if (a.cooldownSeconds !== undefined) s.cooldown = String(a.cooldownSeconds);
  return s;
}

/** A one-line summary of an automation's event and conditions. */
export function describeEvent(a: Pick<AutomationInput, 'event' | 'scope'>): string {
  let s: FormState;
  try {
    s = formFromAutomation({ ...a, name: '', enabled: true, action: { type: 'NO_OP' } });
  } catch {
    return a.event.type;
  }
  const cmp = CMP_OPS.find((c) => c.op === s.cmp)?.symbol ?? s.cmp;
  const where = a.scope.type === 'ARTIFACT_COLLECTION' ? ` in ${a.scope.collection}` : '';
  const runPart = [s.runName && `runs matching /${s.runName}/`, s.user && `by ${s.user}`]
    .filter(Boolean)
    .join(' ');
  const suffix = runPart ? ` (${runPart})` : '';
  switch (a.event.type) {
    case 'RUN_STATE':
      return `Run becomes ${s.states.join(' or ')}${suffix}`;
    case 'RUN_METRIC':
      return `${s.agg.toLowerCase()}(${s.metric}, last ${s.window}) ${cmp} ${s.threshold}${suffix}`;
    case 'RUN_METRIC_CHANGE':
      return `${s.metric} ${s.changeDir === 'ANY' ? 'changes' : `${s.changeDir.toLowerCase()}s`} by ${s.changeType === 'RELATIVE' ? `${Number(s.changeAmount) * 100} %` : s.changeAmount}${suffix}`;
    case 'RUN_METRIC_ZSCORE':
      return `${s.metric} z-score ${s.zDir === 'DECREASE' ? '≤ −' : s.zDir === 'INCREASE' ? '≥ ' : '|z| ≥ '}${s.zThreshold} over ${s.zWindow} runs${suffix}`;
    case 'ADD_ARTIFACT_ALIAS':
      return `Alias added${s.pattern ? ` matching /${s.pattern}/` : ''}${where}`;
    case 'ADD_ARTIFACT_TAG':
    case 'REMOVE_ARTIFACT_TAG':
      return `Tag ${a.event.type === 'ADD_ARTIFACT_TAG' ? 'added' : 'removed'}${s.pattern ? ` matching /${s.pattern}/` : ''}${where}`;
    default:
      return `${EVENT_LABELS[a.event.type] ?? a.event.type}${where}`;
  }
}

export const ACTION_LABELS: Record<Action['type'], string> = {
  NOTIFICATION: 'Slack',
  GENERIC_WEBHOOK: 'Webhook',
  NO_OP: 'No-op',
};

export function describeAction(action: Action, integrations: Integration[] | undefined): string {
  if (action.type === 'NO_OP') return 'No-op (record only)';
  const i = integrations?.find((x) => x.id === action.integrationId);
  return `${ACTION_LABELS[action.type]} · ${i ? i.name : 'unknown integration'}`;
}
