/**
 * The Slack notification for an automation firing (reference.md §4 "Slack notification").
 *
 * Layout: a header block with the title at the top level (so the title reads as the message), then
 * one attachment whose left border is the severity colour, holding the message, a summary of the
 * event and a link to it. `text` is the plain fallback Slack uses for notifications and clients
 * that cannot show blocks; it is not displayed when blocks are present.
 *
 * Escaping: event values come from whoever logged the run or artifact, so they are escaped for
 * mrkdwn (`&`, `<`, `>`), which stops them from forming links or `<!channel>` mentions. The
 * automation's message is written by a team admin and is sent as mrkdwn unchanged, so it may use
 * formatting, links and mentions on purpose.
 *
 * Limits (Block Kit): header text ≤ 150, section text ≤ 3000, field ≤ 2000, ≤ 10 fields, context
 * element ≤ 3000, ≤ 50 blocks. Longer text is cut with an ellipsis. Lengths are counted in UTF-16
 * units, which is never less than Slack's character count, and a surrogate pair is never split.
 */
import type { KnownBlock, MessageAttachment } from '@slack/web-api';

export type Severity = 'INFO' | 'WARN' | 'ERROR';

export const SEVERITY_COLORS: Record<Severity, string> = {
  INFO: '#2EB67D',
  WARN: '#ECB22E',
  ERROR: '#E01E5A',
};

/**
 * What happened, with the same names as the payload template variables, so the delivery worker
 * can pass one record to both `renderTemplate` and `buildSlackMessage`.
 */
export interface SlackEventFields {
  event_type: string;
  entity_name?: string;
  project_name?: string;
  event_author?: string;
  run_name?: string;
  run_id?: string;
  run_state?: string;
  metric_name?: string;
  metric_value?: number | null;
  artifact_collection_name?: string;
  artifact_version?: string;
  alias?: string;
  tag?: string;
}

export interface SlackMessageInput {
  title?: string;
  message?: string;
  severity: Severity;
  event: SlackEventFields;
  /** Link to the run, artifact or execution in Tripline's UI. */
  url?: string;
}

export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
  attachments: MessageAttachment[];
}

const LIMITS = { header: 150, section: 3000, field: 2000, fields: 10, context: 3000, text: 3000 };

const EVENT_LABELS: Record<string, string> = {
  CREATE_ARTIFACT: 'Artifact version created',
  ADD_ARTIFACT_ALIAS: 'Artifact alias added',
  ADD_ARTIFACT_TAG: 'Artifact tag added',
  REMOVE_ARTIFACT_TAG: 'Artifact tag removed',
  LINK_ARTIFACT: 'Artifact linked to a registry',
  LINK_MODEL: 'Artifact linked to a registry',
  UNLINK_ARTIFACT: 'Artifact unlinked from a registry',
  RUN_STATE: 'Run state changed',
  RUN_METRIC: 'Run metric crossed a threshold',
  RUN_METRIC_CHANGE: 'Run metric changed',
  RUN_METRIC_ZSCORE: 'Run metric is an outlier',
};

export function buildSlackMessage(input: SlackMessageInput): SlackMessage {
  const { event } = input;
  const label = EVENT_LABELS[event.event_type] ?? event.event_type;
  const subject = event.run_name ?? event.run_id ?? versionString(event);
  const title = input.title?.trim() || (subject ? `${label}: ${subject}` : label);
  const message = input.message?.trim() ?? '';

  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, LIMITS.header), emoji: true } },
  ];

  const inner: KnownBlock[] = [];
  if (message)
    inner.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(message, LIMITS.section) } });
  const fields = summaryFields(event).slice(0, LIMITS.fields);
  if (fields.length > 0) {
    inner.push({
      type: 'section',
      fields: fields.map(([name, value]) => ({
        type: 'mrkdwn' as const,
        text: truncateEscaped(`*${name}*\n${escapeMrkdwn(value)}`, LIMITS.field),
      })),
    });
  }
  const context = [`*${input.severity}*`, escapeMrkdwn(label)];
  const link = slackLink(input.url, 'View in Tripline');
  if (link) context.push(link);
  inner.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: truncateEscaped(context.join(' · '), LIMITS.context) }],
  });

  // `text` is mrkdwn too: the title may hold event values, so it is escaped; the message is the admin's.
  const text = truncateEscaped(
    `[${input.severity}] ${escapeMrkdwn(title)}${message ? ` — ${message}` : ''}`,
    LIMITS.text,
  );
  return {
    text,
    blocks,
    attachments: [{ color: SEVERITY_COLORS[input.severity], fallback: text, blocks: inner }],
  };
}

/** Label/value pairs describing the event, most telling first. */
function summaryFields(e: SlackEventFields): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (e.run_name || e.run_id) {
    const run =
      e.run_name && e.run_id && e.run_name !== e.run_id
        ? `${e.run_name} (${e.run_id})`
        : (e.run_name ?? e.run_id!);
    fields.push(['Run', run]);
  }
  if (e.run_state) fields.push(['State', e.run_state]);
  if (e.metric_name) {
    fields.push([
      'Metric',
      e.metric_value == null ? e.metric_name : `${e.metric_name} = ${formatNumber(e.metric_value)}`,
    ]);
  }
  const version = versionString(e);
  if (version) fields.push(['Artifact', version]);
  if (e.alias) fields.push(['Alias', e.alias]);
  if (e.tag) fields.push(['Tag', e.tag]);
  if (e.event_author) fields.push(['Author', e.event_author]);
  if (e.project_name)
    fields.push(['Project', e.entity_name ? `${e.entity_name}/${e.project_name}` : e.project_name]);
  return fields;
}

function versionString(e: SlackEventFields): string | undefined {
  if (!e.artifact_collection_name) return undefined;
  return e.artifact_version
    ? `${e.artifact_collection_name}:${e.artifact_version}`
    : e.artifact_collection_name;
}

/** Six significant digits is enough to read a metric; JSON-only values like NaN are shown as such. */
function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return new Intl.NumberFormat('en-US', { maximumSignificantDigits: 6, useGrouping: false }).format(value);
}

/** Slack's mrkdwn escaping: only these three characters are control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `<url|label>`, or nothing for a URL that is not http(s) or too long to be kept whole. */
function slackLink(url: string | undefined, label: string): string | undefined {
  if (!url) return undefined;
  let href: string;
  try {
    href = new URL(url).href;
  } catch {
    return undefined;
  }
  if (!/^https?:/.test(href) || href.length > 2000) return undefined;
  // `|` and `>` end the URL part of a link; the URL parser leaves `|` as is.
  return `<${href.replace(/\|/g, '%7C').replace(/>/g, '%3E')}|${label}>`;
}

/** Cuts to at most `max` UTF-16 units, ending with an ellipsis, never inside a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Like `truncate` for escaped mrkdwn: also drops an `&amp;`-style entity cut in half. */
function truncateEscaped(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${truncate(text, max)
    .slice(0, -1)
    .replace(/&[a-z]{0,3}$/, '')}…`;
}
