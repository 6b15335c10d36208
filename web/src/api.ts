/** The public REST API (`/api/v1`), typed for the screens that use it. */

const KEY_STORAGE = 'tripline.apiKey';
export const API_BASE = '/api/v1';

export function getApiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** An error answer from the API: `{"error":{"code","message","field"?}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly body?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Fired when the API rejects the stored key, so the app can show the sign-in page. */
export const UNAUTHORIZED_EVENT = 'tripline:unauthorized';

type RequestOptions = { method?: string; body?: unknown; key?: string; signal?: AbortSignal };

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const key = options.key ?? getApiKey();
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(API_BASE + path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Could not reach the Tripline server. Check that it is running.');
  }
  const text = await res.text();
  let data: any = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    if (res.status === 401 && !options.key) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    throw new ApiError(
      res.status,
      typeof e.code === 'string' ? e.code : `http_${res.status}`,
      typeof e.message === 'string' ? e.message : `The server answered ${res.status} ${res.statusText}.`,
      typeof e.field === 'string' ? e.field : undefined,
      e,
    );
  }
  return data as T;
}

export type Page<T> = { items: T[]; nextCursor: string | null };

/** Reads every page of a list (bounded, so a huge list cannot hang the page). */
export async function fetchAll<T>(path: string, maxPages = 20): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page: Page<T> = await api<Page<T>>(
      `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    out.push(...(page.items ?? []));
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return out;
}

export const enc = encodeURIComponent;

export function qs(params: Record<string, string | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

// ---- shapes -------------------------------------------------------------------------------

export type Viewer = { username: string; teams: { name: string; role: 'admin' | 'member' }[] };
export type Team = { name: string; role: string; members: { username: string; role: string }[] };
export type Named = { name: string; createdAt: string };

export type RunState = 'RUNNING' | 'FINISHED' | 'FAILED' | 'CRASHED' | 'KILLED';
export type Run = {
  id: string;
  displayName: string;
  state: RunState;
  author: string;
  createdAt: string;
  updatedAt: string;
  summary: Record<string, unknown>;
  config?: Record<string, unknown>;
  tags?: string[];
};
export type HistoryRow = { _step: number } & Record<string, unknown>;

export type ArtifactVersion = {
  version: string;
  aliases: string[];
  tags: string[];
  digest?: string;
  metadata?: Record<string, unknown>;
  source?: string;
  createdAt: string;
};
export type Collection = { collection: string; type?: string; versions: ArtifactVersion[] };

export type Secret = {
  name: string;
  createdAt: string;
  updatedAt: string;
  usedBy: { kind: 'integration' | 'automation'; id: string; name: string }[];
};

export type Integration = {
  id: string;
  kind: 'webhook' | 'slack';
  name: string;
  url?: string;
  channel?: string;
  accessTokenSecret?: string | null;
  secret?: string | null;
  botTokenSecret?: string | null;
  webhookUrlSecret?: string | null;
  status?: 'ok' | 'failing' | 'paused';
  createdAt: string;
};
export type TestResult = { ok: boolean; status?: number; body?: string; error?: string };

export type ScopeType = 'PROJECT' | 'REGISTRY' | 'ARTIFACT_COLLECTION' | 'TEAM';
export type Scope = {
  type: ScopeType;
  team: string;
  project?: string;
  registry?: string;
  collection?: string;
};

export type EventType =
  | 'CREATE_ARTIFACT'
  | 'ADD_ARTIFACT_ALIAS'
  | 'ADD_ARTIFACT_TAG'
  | 'REMOVE_ARTIFACT_TAG'
  | 'LINK_ARTIFACT'
  | 'UNLINK_ARTIFACT'
  | 'RUN_STATE'
  | 'RUN_METRIC'
  | 'RUN_METRIC_CHANGE'
  | 'RUN_METRIC_ZSCORE';

export type Action =
  | { type: 'NOTIFICATION'; integrationId: string; title?: string; message?: string; severity?: string }
  | { type: 'GENERIC_WEBHOOK'; integrationId: string; payload: unknown }
  | { type: 'NO_OP' };

export type AutomationInput = {
  name: string;
  description?: string;
  enabled: boolean;
  scope: Scope;
  event: { type: EventType; filter: unknown };
  action: Action;
  /** Noise control: at most this many firings an hour, and a quiet time after each. */
  rateLimitPerHour?: number;
  cooldownSeconds?: number;
};

export type Automation = AutomationInput & {
  id: string;
  createdAt: string;
  updatedAt: string;
  lastExecutionAt: string | null;
  suppressedCount?: number;
};

export type ExecutionState = 'PENDING' | 'FINISHED' | 'FAILED';
export type Execution = {
  id: string;
  automationId: string;
  automationName: string;
  triggeredAt: string;
  state: ExecutionState;
  event: { type: string; details?: Record<string, unknown> };
  action: { type: string; target?: string | null; payload?: unknown };
  result?: { status?: number; body?: string; error?: string } | null;
  attempts?: { at: string; status?: number; error?: string; durationMs?: number; responseExcerpt?: string }[];
};

export type TemplateVariable = { name: string; description: string };
export type Preview = { payload: unknown; sample: boolean };
