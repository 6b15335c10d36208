import type { Kysely } from 'kysely';
import type { StoredAction, StoredFilter } from '../automations/definition.js';
import type { AutomationEventType } from '../model/events.js';
import { METRICS_APPENDED } from '../model/events.js';
import type { DB } from '../store/schema.js';
import { parseJson } from '../tracking/util.js';
import { type FilterExpr, MATCH_ALL, parseArtifactFilter, parseRunFilter } from './conditions/filter.js';
import type { ChangeFilter, ThresholdFilter, ZScoreFilter } from './conditions/metric.js';

/** An enabled automation, compiled once for matching. */
export interface CompiledAutomation {
  id: string;
  name: string;
  teamId: string;
  eventType: AutomationEventType;
  scopeKey: string;
  fromPosition: number;
  action: StoredAction;
  artifactFilter: FilterExpr;
  runFilter: FilterExpr;
  states?: Set<string>;
  threshold?: ThresholdFilter;
  change?: ChangeFilter;
  zscore?: ZScoreFilter;
  rateLimitPerHour: number;
  cooldownSeconds: number;
  lastExecutionAt: string | null;
}

export const scopeKeys = {
  team: (teamId: string) => `T:${teamId}`,
  project: (projectId: string) => `P:${projectId}`,
  collection: (projectId: string, name: string) => `C:${projectId}/${name}`,
};

/** Which automation event types a log event can fire. */
function automationTypesFor(logType: string): string[] {
  if (logType === METRICS_APPENDED) return ['RUN_METRIC', 'RUN_METRIC_CHANGE', 'RUN_METRIC_ZSCORE'];
  return [logType];
}

/**
 * Enabled automations indexed by event type × scope key, so matching an event costs a few map
 * lookups along its scope chain (collection → project/registry → team), whatever the total count.
 */
export class AutomationIndex {
  private byKey = new Map<string, CompiledAutomation[]>();
  private signature = '';
  private readonly broken = new Set<string>();

  constructor(private readonly onCompileError: (id: string, err: unknown) => void = () => {}) {}

  /** Reloads when any automation was created, changed or deleted since the last load. */
  async refresh(db: Kysely<DB>): Promise<void> {
    const sig = await db
      .selectFrom('automations')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('updated_at').as('u')])
      .executeTakeFirstOrThrow();
    const signature = `${sig.n}|${sig.u}`;
    if (signature === this.signature) return;
    const rows = await db.selectFrom('automations').selectAll().where('enabled', '=', 1).execute();
    const byKey = new Map<string, CompiledAutomation[]>();
    for (const r of rows) {
      let a: CompiledAutomation;
      try {
        a = compile(r);
      } catch (err) {
        if (!this.broken.has(r.id)) this.onCompileError(r.id, err);
        this.broken.add(r.id);
        continue;
      }
      const key = `${a.eventType}|${a.scopeKey}`;
      const list = byKey.get(key);
      if (list) list.push(a);
      else byKey.set(key, [a]);
    }
    this.byKey = byKey;
    this.signature = signature;
  }

  candidates(e: { type: string; teamId: string; projectId: string | null; collection: string | null }) {
    const keys = [scopeKeys.team(e.teamId)];
    if (e.projectId) keys.push(scopeKeys.project(e.projectId));
    if (e.projectId && e.collection) keys.push(scopeKeys.collection(e.projectId, e.collection));
    const out: CompiledAutomation[] = [];
    for (const type of automationTypesFor(e.type)) {
      for (const k of keys) {
        const list = this.byKey.get(`${type}|${k}`);
        if (list) for (const a of list) if (a.teamId === e.teamId) out.push(a);
      }
    }
    return out;
  }

  get size(): number {
    let n = 0;
    for (const l of this.byKey.values()) n += l.length;
    return n;
  }
}

function compile(r: DB['automations']): CompiledAutomation {
  const f = parseJson<StoredFilter>(r.event_filter, {});
  const scopeKey =
    r.scope_type === 'TEAM'
      ? scopeKeys.team(r.team_id)
      : r.scope_type === 'ARTIFACT_COLLECTION'
        ? scopeKeys.collection(r.scope_project_id!, r.scope_collection!)
        : scopeKeys.project(r.scope_project_id!);
  return {
    id: r.id,
    name: r.name,
    teamId: r.team_id,
    eventType: r.event_type as AutomationEventType,
    scopeKey,
    fromPosition: Number(r.from_position),
    action: parseJson<StoredAction>(r.action, { type: 'NO_OP' }),
    artifactFilter: f.artifact === undefined ? MATCH_ALL : parseArtifactFilter(f.artifact, 'event.filter'),
    runFilter:
      f.run_filter === undefined ? MATCH_ALL : parseRunFilter(f.run_filter, 'event.filter.run_filter'),
    states: f.run_state_filter ? new Set(f.run_state_filter.states) : undefined,
    threshold: f.threshold_filter as ThresholdFilter | undefined,
    change: f.change_filter as ChangeFilter | undefined,
    zscore: f.zscore_filter as ZScoreFilter | undefined,
    rateLimitPerHour: r.rate_limit_per_hour,
    cooldownSeconds: r.cooldown_seconds,
    lastExecutionAt: r.last_execution_at,
  };
}
