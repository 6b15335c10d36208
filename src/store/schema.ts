import type { Generated } from 'kysely';

/**
 * Table types shared by SQLite and PostgreSQL. Conventions that keep one code path for both:
 * timestamps are ISO-8601 UTC strings (they sort as text), JSON is stored as text, booleans as 0/1.
 */
export interface DB {
  users: { id: string; username: string; created_at: string };
  api_keys: {
    id: string;
    user_id: string;
    key_hash: string;
    prefix: string;
    created_at: string;
    last_used_at: string | null;
  };
  teams: { id: string; name: string; created_at: string };
  team_members: { team_id: string; user_id: string; role: 'admin' | 'member'; created_at: string };
  /** Projects and registries share a table: W&B stores a registry as a project too. */
  projects: {
    id: string;
    team_id: string;
    kind: 'project' | 'registry';
    name: string;
    created_at: string;
  };
  collections: {
    id: string;
    project_id: string;
    name: string;
    type: string;
    next_version: number;
    created_at: string;
  };
  artifact_versions: {
    id: string;
    collection_id: string;
    version_index: number;
    type: string;
    digest: string;
    metadata: string;
    created_by: string | null;
    /** For a registry link: the project version this one points at. */
    source_version_id: string | null;
    created_at: string;
  };
  aliases: { collection_id: string; alias: string; version_id: string; created_at: string };
  tags: { version_id: string; tag: string; created_at: string };
  runs: {
    id: string;
    project_id: string;
    name: string;
    display_name: string;
    user_id: string;
    state: RunState;
    config: string;
    tags: string;
    summary: string;
    /** Per-file offsets seen on the W&B file_stream, so a resent chunk is a no-op. */
    stream_offsets: string;
    created_at: string;
    updated_at: string;
  };
  run_history: { run_id: string; step: number; data: string };
  run_system: { run_id: string; seq: number; data: string };
  events: {
    position: Generated<number>;
    type: string;
    team_id: string;
    project_id: string | null;
    collection_name: string | null;
    run_id: string | null;
    actor_id: string | null;
    details: string;
    created_at: string;
  };
  engine_cursors: { name: string; position: number; updated_at: string };
  automations: {
    id: string;
    team_id: string;
    name: string;
    description: string;
    enabled: number;
    scope_type: 'TEAM' | 'PROJECT' | 'REGISTRY' | 'ARTIFACT_COLLECTION';
    scope_project_id: string | null;
    scope_collection: string | null;
    event_type: string;
    event_filter: string;
    action_type: 'NOTIFICATION' | 'GENERIC_WEBHOOK' | 'NO_OP';
    action: string;
    integration_id: string | null;
    rate_limit_per_hour: number;
    cooldown_seconds: number;
    /** Event-log position when the automation was created/enabled: it never fires for earlier events. */
    from_position: number;
    created_by: string;
    created_at: string;
    updated_at: string;
    last_execution_at: string | null;
    suppressed_count: number;
    last_suppressed_at: string | null;
  };
  automation_run_fired: { automation_id: string; run_id: string; fired_at: string };
  executions: {
    id: string;
    automation_id: string;
    automation_name: string;
    team_id: string;
    project_id: string | null;
    collection_name: string | null;
    event_position: number;
    triggered_at: string;
    state: 'PENDING' | 'FINISHED' | 'FAILED';
    event: string;
    action: string;
    payload_masked: string | null;
    result: string;
    updated_at: string;
  };
  deliveries: {
    id: string;
    execution_id: string;
    integration_id: string | null;
    status: 'pending' | 'done' | 'failed';
    attempts: number;
    run_at: string;
    lease_owner: string | null;
    lease_until: string | null;
    last_error: string | null;
    created_at: string;
    updated_at: string;
  };
  delivery_attempts: {
    id: string;
    execution_id: string;
    at: string;
    status: number | null;
    error: string | null;
    duration_ms: number;
    response_excerpt: string | null;
  };
  secrets: {
    id: string;
    team_id: string;
    name: string;
    ciphertext: string;
    created_at: string;
    updated_at: string;
  };
  integrations: {
    id: string;
    team_id: string;
    kind: 'webhook' | 'slack';
    name: string;
    config: string;
    status: 'ok' | 'failing' | 'paused';
    status_reason: string | null;
    consecutive_failures: number;
    /** Start of the current run of failed attempts; null while healthy. */
    failing_since: string | null;
    created_at: string;
    updated_at: string;
  };
}

export type RunState = 'RUNNING' | 'FINISHED' | 'FAILED' | 'CRASHED' | 'KILLED';
