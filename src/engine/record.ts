import type { Kysely } from 'kysely';
import { MASK, renderTemplate } from '../actions/template.js';
import { templateVariables } from '../actions/variables.js';
import { findIntegration, type IntegrationRecord, integrationSecretNames } from '../integrations/queries.js';
import type { DB } from '../store/schema.js';
import { newId } from '../tracking/util.js';
import type { Firing } from './decide.js';

/** Who an action goes to, as history shows it (never a secret). */
export function actionTarget(type: string, integration: IntegrationRecord | undefined): string | null {
  if (type === 'NO_OP' || !integration) return null;
  if (integration.kind === 'webhook') return `${integration.name} (${safeOrigin(integration.config.url)})`;
  return `${integration.name}${integration.config.channel ? ` (#${integration.config.channel.replace(/^#/, '')})` : ''}`;
}

function safeOrigin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'invalid URL';
  }
}

/** The payload as history shows it: rendered with every secret masked. */
export function maskedPayload(
  payload: unknown,
  vars: Record<string, unknown>,
  integration?: IntegrationRecord,
) {
  const secrets: Record<string, string> = { ACCESS_TOKEN: MASK };
  if (integration) for (const name of integrationSecretNames(integration)) secrets[name] = MASK;
  return renderTemplate(payload, vars, secrets).masked;
}

/**
 * Writes an execution (PENDING, or FINISHED at once for NO_OP) and, for a real action, its delivery
 * job — in the engine's transaction, together with the cursor advance.
 */
export async function recordExecution(
  db: Kysely<DB>,
  f: Firing,
  at: Date,
  integrations: Map<string, IntegrationRecord | undefined>,
): Promise<string> {
  const a = f.automation;
  const id = newId();
  const iso = at.toISOString();
  let integration: IntegrationRecord | undefined;
  if (a.action.integrationId) {
    if (!integrations.has(a.action.integrationId)) {
      integrations.set(a.action.integrationId, await findIntegration(db, a.teamId, a.action.integrationId));
    }
    integration = integrations.get(a.action.integrationId);
  }
  const noop = a.action.type === 'NO_OP';
  const vars = templateVariables(a.eventType, f.details);
  const payload =
    a.action.type === 'GENERIC_WEBHOOK' && a.action.payload !== undefined
      ? maskedPayload(a.action.payload, vars, integration)
      : null;
  await db
    .insertInto('executions')
    .values({
      id,
      automation_id: a.id,
      automation_name: a.name,
      team_id: a.teamId,
      project_id: f.event.projectId,
      collection_name: f.event.collection,
      event_position: f.event.position,
      triggered_at: iso,
      state: noop ? 'FINISHED' : 'PENDING',
      event: JSON.stringify({ type: a.eventType, details: f.details }),
      action: JSON.stringify({
        type: a.action.type,
        integrationId: a.action.integrationId ?? null,
        target: actionTarget(a.action.type, integration),
        // The action as it was when it fired: later edits to the automation don't change this delivery.
        template:
          a.action.type === 'GENERIC_WEBHOOK'
            ? { payload: a.action.payload }
            : a.action.type === 'NOTIFICATION'
              ? { title: a.action.title, message: a.action.message, severity: a.action.severity }
              : undefined,
      }),
      payload_masked: payload,
      result: '{}',
      updated_at: iso,
    })
    .execute();
  if (!noop) {
    await db
      .insertInto('deliveries')
      .values({
        id: newId(),
        execution_id: id,
        integration_id: a.action.integrationId ?? null,
        status: 'pending',
        attempts: 0,
        run_at: iso,
        lease_owner: null,
        lease_until: null,
        last_error: null,
        created_at: iso,
        updated_at: iso,
      })
      .execute();
  }
  await db.updateTable('automations').set({ last_execution_at: iso }).where('id', '=', a.id).execute();
  a.lastExecutionAt = iso;
  return id;
}
