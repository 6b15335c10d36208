/** Event wire names (reference §2) plus the engine-internal "metrics appended" record. */
export const ARTIFACT_EVENTS = [
  'CREATE_ARTIFACT',
  'ADD_ARTIFACT_ALIAS',
  'ADD_ARTIFACT_TAG',
  'REMOVE_ARTIFACT_TAG',
  'LINK_ARTIFACT',
  'UNLINK_ARTIFACT',
] as const;
export const RUN_METRIC_EVENTS = ['RUN_METRIC', 'RUN_METRIC_CHANGE', 'RUN_METRIC_ZSCORE'] as const;
export const AUTOMATION_EVENTS = [...ARTIFACT_EVENTS, 'RUN_STATE', ...RUN_METRIC_EVENTS] as const;
export type AutomationEventType = (typeof AUTOMATION_EVENTS)[number];

/** One compact record per history batch; the engine reads the new points from the history tables. */
export const METRICS_APPENDED = 'RUN_METRICS_APPENDED';
export type LogEventType =
  | Exclude<AutomationEventType, (typeof RUN_METRIC_EVENTS)[number]>
  | typeof METRICS_APPENDED;

/** Everything history records and payload variables need, captured when the change commits. */
export interface EventDetails {
  team: string;
  project?: string;
  projectKind?: 'project' | 'registry';
  author?: string;
  collection?: string;
  artifactType?: string;
  version?: string;
  versionId?: string;
  digest?: string;
  metadata?: Record<string, unknown>;
  alias?: string;
  tag?: string;
  source?: string;
  runId?: string;
  runName?: string;
  runAuthor?: string;
  runState?: string;
  oldState?: string | null;
  newState?: string;
  /** METRICS_APPENDED: which table and the step (or seq) range of the batch. */
  table?: 'history' | 'system';
  fromStep?: number;
  toStep?: number;
  count?: number;
  metrics?: string[];
}

export interface LogEvent {
  position: number;
  type: LogEventType;
  teamId: string;
  projectId: string | null;
  collection: string | null;
  runId: string | null;
  actorId: string | null;
  details: EventDetails;
  createdAt: string;
}
