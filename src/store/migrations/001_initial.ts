import type { Kysely } from 'kysely';

/** One schema for both databases; only the event position column differs by dialect. */
export function initial(dialect: 'sqlite' | 'postgres') {
  return {
    async up(db: Kysely<any>): Promise<void> {
      const ts = 'text';
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', ts, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('last_used_at', ts)
        .execute();
      await db.schema
        .createTable('teams')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', ts, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('team_members')
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addPrimaryKeyConstraint('team_members_pk', ['team_id', 'user_id'])
        .execute();
      await db.schema
        .createTable('projects')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addUniqueConstraint('projects_team_kind_name', ['team_id', 'kind', 'name'])
        .execute();
      await db.schema
        .createTable('collections')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('next_version', 'integer', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addUniqueConstraint('collections_project_name', ['project_id', 'name'])
        .execute();
      await db.schema
        .createTable('artifact_versions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('collection_id', 'text', (c) => c.notNull().references('collections.id'))
        .addColumn('version_index', 'integer', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('source_version_id', 'text')
        .addColumn('created_at', ts, (c) => c.notNull())
        .addUniqueConstraint('versions_collection_index', ['collection_id', 'version_index'])
        .execute();
      await db.schema
        .createTable('aliases')
        .addColumn('collection_id', 'text', (c) => c.notNull().references('collections.id'))
        .addColumn('alias', 'text', (c) => c.notNull())
        .addColumn('version_id', 'text', (c) => c.notNull().references('artifact_versions.id'))
        .addColumn('created_at', ts, (c) => c.notNull())
        .addPrimaryKeyConstraint('aliases_pk', ['collection_id', 'alias'])
        .execute();
      await db.schema.createIndex('aliases_version').on('aliases').column('version_id').execute();
      await db.schema
        .createTable('tags')
        .addColumn('version_id', 'text', (c) => c.notNull().references('artifact_versions.id'))
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['version_id', 'tag'])
        .execute();
      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('stream_offsets', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .addUniqueConstraint('runs_project_name', ['project_id', 'name'])
        .execute();
      await db.schema
        .createIndex('runs_project_created')
        .on('runs')
        .columns(['project_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('run_history')
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_history_pk', ['run_id', 'step'])
        .execute();
      await db.schema
        .createTable('run_system')
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_system_pk', ['run_id', 'seq'])
        .execute();
      await db.schema
        .createTable('events')
        .addColumn('position', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('team_id', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text')
        .addColumn('collection_name', 'text')
        .addColumn('run_id', 'text')
        .addColumn('actor_id', 'text')
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('events_team_position')
        .on('events')
        .columns(['team_id', 'position'])
        .execute();
      await db.schema
        .createTable('engine_cursors')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('integrations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .addColumn('consecutive_failures', 'integer', (c) => c.notNull())
        .addColumn('failing_since', ts)
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .addUniqueConstraint('integrations_team_name', ['team_id', 'name'])
        .execute();
      await db.schema
        .createTable('secrets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('ciphertext', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .addUniqueConstraint('secrets_team_name', ['team_id', 'name'])
        .execute();
      await db.schema
        .createTable('automations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('scope_type', 'text', (c) => c.notNull())
        .addColumn('scope_project_id', 'text')
        .addColumn('scope_collection', 'text')
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('event_filter', 'text', (c) => c.notNull())
        .addColumn('action_type', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('integration_id', 'text')
        .addColumn('rate_limit_per_hour', 'integer', (c) => c.notNull())
        .addColumn('cooldown_seconds', 'integer', (c) => c.notNull())
        .addColumn('from_position', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .addColumn('last_execution_at', ts)
        .addColumn('suppressed_count', 'integer', (c) => c.notNull())
        .addColumn('last_suppressed_at', ts)
        .addUniqueConstraint('automations_team_name', ['team_id', 'name'])
        .execute();
      await db.schema
        .createIndex('automations_match')
        .on('automations')
        .columns(['event_type', 'team_id', 'scope_project_id'])
        .execute();
      await db.schema
        .createTable('automation_run_fired')
        .addColumn('automation_id', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('fired_at', ts, (c) => c.notNull())
        .addPrimaryKeyConstraint('automation_run_fired_pk', ['automation_id', 'run_id'])
        .execute();
      await db.schema
        .createTable('executions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('automation_id', 'text', (c) => c.notNull())
        .addColumn('automation_name', 'text', (c) => c.notNull())
        .addColumn('team_id', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text')
        .addColumn('collection_name', 'text')
        .addColumn('event_position', 'bigint', (c) => c.notNull())
        .addColumn('triggered_at', ts, (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('payload_masked', 'text')
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('executions_automation')
        .on('executions')
        .columns(['automation_id', 'triggered_at'])
        .execute();
      await db.schema
        .createIndex('executions_team')
        .on('executions')
        .columns(['team_id', 'triggered_at'])
        .execute();
      await db.schema
        .createTable('deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('execution_id', 'text', (c) => c.notNull())
        .addColumn('integration_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('run_at', ts, (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', ts)
        .addColumn('last_error', 'text')
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('deliveries_due').on('deliveries').columns(['status', 'run_at']).execute();
      await db.schema
        .createTable('delivery_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('execution_id', 'text', (c) => c.notNull())
        .addColumn('at', ts, (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('error', 'text')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('response_excerpt', 'text')
        .execute();
      await db.schema
        .createIndex('delivery_attempts_execution')
        .on('delivery_attempts')
        .columns(['execution_id', 'at'])
        .execute();
    },
  };
}
