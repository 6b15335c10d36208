import type { EventDetails } from '../model/events.js';

/** What an execution records about its event: the log details plus what the condition saw. */
export interface FiredEventDetails extends EventDetails {
  metricName?: string;
  metricValue?: number | string;
  step?: number;
  priorValue?: number | string;
  delta?: number | string;
  zScore?: number | string;
}

/** Payload template variables (reference §4) for a fired event. */
export function templateVariables(type: string, d: FiredEventDetails): Record<string, unknown> {
  const ref = d.alias ?? d.version;
  return {
    project_name: d.project ?? null,
    entity_name: d.team,
    event_type: type,
    event_author: d.author ?? null,
    alias: d.alias ?? null,
    tag: d.tag ?? null,
    artifact_collection_name: d.collection ?? null,
    artifact_metadata: d.metadata ?? {},
    artifact_version: d.version ?? null,
    artifact_version_string: d.collection && ref ? `${d.team}/${d.project}/${d.collection}:${ref}` : null,
    run_name: d.runName ?? null,
    run_id: d.runId ?? null,
    run_state: d.newState ?? d.runState ?? null,
    metric_name: d.metricName ?? null,
    metric_value: d.metricValue ?? null,
  };
}

/** A representative event of each type, for previews and integration tests before real events exist. */
export function sampleDetails(type: string, team: string, project: string): FiredEventDetails {
  const base = { team, project, author: 'alice' };
  if (type === 'RUN_STATE') {
    return {
      ...base,
      runId: 'a1b2c3',
      runName: 'sample-run',
      runAuthor: 'alice',
      oldState: 'RUNNING',
      newState: 'FAILED',
    };
  }
  if (type.startsWith('RUN_METRIC')) {
    return {
      ...base,
      runId: 'a1b2c3',
      runName: 'sample-run',
      runState: 'RUNNING',
      metricName: 'loss',
      metricValue: 0.42,
      step: 100,
    };
  }
  return {
    ...base,
    collection: 'sample-model',
    artifactType: 'model',
    version: 'v3',
    metadata: { accuracy: 0.93 },
    alias: type === 'ADD_ARTIFACT_ALIAS' || type === 'LINK_ARTIFACT' ? 'production' : undefined,
    tag: type.includes('TAG') ? 'candidate' : undefined,
  };
}
