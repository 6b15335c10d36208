import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type Automation, api, type Execution, enc, type Page, qs } from '../api.js';
import { ACTION_LABELS, EVENT_LABELS } from '../events.js';
import { type Place, placeBase, placeCrumbs, placeParam } from '../place.js';
import { Link, navigate, path, useLocation } from '../router.js';
import {
  absoluteTime,
  Breadcrumbs,
  Empty,
  ErrorBox,
  formatValue,
  JsonBlock,
  Loader,
  PageHeader,
  Spinner,
  StateBadge,
  Time,
} from '../ui.js';

/** `runName` → `run name`, `metric_value` → `metric value`. */
function humanKey(k: string): string {
  return k
    .replace(/_/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase();
}

/** The most telling detail of an event, for the list: run name, metric, version, alias… */
function eventSummary(e: Execution['event']): string {
  const d = e.details ?? {};
  const parts: string[] = [];
  const pick = (...keys: string[]) => {
    for (const k of keys) if (d[k] !== undefined && d[k] !== null && d[k] !== '') return d[k];
    return undefined;
  };
  const run = pick('runName', 'run_name', 'displayName', 'runId', 'run_id');
  if (run !== undefined) parts.push(String(run));
  const state = pick('state', 'runState', 'run_state', 'newState');
  if (state !== undefined) parts.push(`→ ${state}`);
  const metric = pick('metricName', 'metric_name', 'metric');
  if (metric !== undefined) {
    const value = pick('metricValue', 'metric_value', 'value');
    parts.push(value !== undefined ? `${metric} = ${formatValue(value)}` : String(metric));
  }
  const version = pick('versionString', 'artifact_version_string', 'version');
  if (version !== undefined) parts.push(String(version));
  const label = pick('alias', 'tag');
  if (label !== undefined) parts.push(`“${label}”`);
  return parts.join(' ');
}

/** The project or registry an event happened in, as a link (for the team-wide history). */
function EventPlace({ team, details }: { team: string; details?: Record<string, unknown> }) {
  const name = details?.project;
  if (typeof name !== 'string' || !name) return <span className="muted">—</span>;
  const registry = details?.projectKind === 'registry';
  return (
    <Link to={path('teams', team, registry ? 'registries' : 'projects', name)}>
      <span className="sr-only">{registry ? 'Registry ' : 'Project '}</span>
      {name}
      {registry && <span className="small muted"> (registry)</span>}
    </Link>
  );
}

export function HistoryTab({ place }: { place: Place }) {
  const teamWide = place.kind === 'team';
  const { search } = useLocation();
  const automationId = search.get('automation');
  const base = placeBase(place);
  const listPath = automationId
    ? `/automations/${enc(automationId)}/executions`
    : `/teams/${enc(place.team)}/executions${qs(placeParam(place))}`;
  const automation = useQuery({
    queryKey: ['automation', automationId],
    queryFn: () => api<Automation>(`/automations/${enc(automationId!)}`),
    enabled: !!automationId,
  });
  const executions = useInfiniteQuery({
    queryKey: ['executions', listPath],
    queryFn: ({ pageParam }) => {
      const sep = listPath.includes('?') ? '&' : '?';
      return api<Page<Execution>>(`${listPath}${sep}limit=50${pageParam ? `&cursor=${enc(pageParam)}` : ''}`);
    },
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: 4_000,
  });
  const items = executions.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <>
      {automationId && (
        <div className="filter-bar">
          Showing executions of <strong>{automation.data?.name ?? 'one automation'}</strong>
          <Link className="btn btn-small" to={`${base}/history`}>
            Show all
          </Link>
        </div>
      )}
      {executions.isPending ? (
        <Spinner label="Loading history…" />
      ) : executions.error ? (
        <ErrorBox error={executions.error} retry={() => executions.refetch()} />
      ) : items.length === 0 ? (
        <Empty title="Nothing has fired yet">
          Every time an automation here fires, an execution appears in this list with the event, the payload
          that was sent and the response.{' '}
          {automationId ? (
            'This automation has not fired yet.'
          ) : (
            <>
              <Link to={`${base}/automations/new`}>Create an automation</Link> — a no-op action is a safe way
              to try conditions out.
            </>
          )}
        </Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table stacked">
              <caption className="sr-only">Executions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Automation</th>
                  {teamWide && <th scope="col">Where</th>}
                  <th scope="col">Event</th>
                  <th scope="col">Action</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {items.map((x) => (
                  <tr
                    key={x.id}
                    className="clickable"
                    onClick={(e) => {
                      if ((e.target as HTMLElement).closest('a')) return;
                      navigate(`${base}/history/${enc(x.id)}`);
                    }}
                  >
                    <td data-label="Time">
                      <Link
                        to={`${base}/history/${enc(x.id)}`}
                        aria-label={`Execution at ${absoluteTime(x.triggeredAt)}`}
                      >
                        <Time iso={x.triggeredAt} />
                      </Link>
                    </td>
                    <td data-label="Automation">{x.automationName}</td>
                    {teamWide && (
                      <td data-label="Where">
                        <EventPlace team={place.team} details={x.event.details} />
                      </td>
                    )}
                    <td data-label="Event">
                      <div className="small muted">
                        {EVENT_LABELS[x.event.type as keyof typeof EVENT_LABELS] ?? x.event.type}
                      </div>
                      <div className="small">{eventSummary(x.event)}</div>
                    </td>
                    <td data-label="Action">
                      {ACTION_LABELS[x.action.type as keyof typeof ACTION_LABELS] ?? x.action.type}
                      {x.action.target && <div className="small muted mono truncate">{x.action.target}</div>}
                    </td>
                    <td data-label="State">
                      <StateBadge state={x.state} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {executions.hasNextPage && (
            <button
              type="button"
              className="btn load-more"
              onClick={() => executions.fetchNextPage()}
              disabled={executions.isFetchingNextPage}
            >
              {executions.isFetchingNextPage ? 'Loading…' : 'Load older executions'}
            </button>
          )}
        </>
      )}
    </>
  );
}

export function ExecutionDetail({ place, id }: { place: Place; id: string }) {
  const qc = useQueryClient();
  const base = placeBase(place);
  const execution = useQuery({
    queryKey: ['execution', id],
    queryFn: () => api<Execution>(`/executions/${enc(id)}`),
    refetchInterval: (q) => (q.state.data?.state === 'PENDING' ? 2_000 : false),
  });
  const redeliver = useMutation({
    mutationFn: () => api<unknown>(`/executions/${enc(id)}/redeliver`, { method: 'POST' }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: ['execution', id] });
      qc.invalidateQueries({ queryKey: ['executions'] });
    },
  });

  return (
    <>
      <Breadcrumbs
        items={[...placeCrumbs(place), { label: 'History', to: `${base}/history` }, { label: 'Execution' }]}
      />
      <Loader query={execution} label="Loading execution…">
        {(x) => (
          <>
            <PageHeader
              kicker="Execution"
              title={x.automationName}
              actions={
                <>
                  <StateBadge state={x.state} />
                  {x.action.type !== 'NO_OP' && (
                    <button
                      type="button"
                      className="btn"
                      onClick={() => redeliver.mutate()}
                      disabled={redeliver.isPending}
                    >
                      {redeliver.isPending ? 'Redelivering…' : 'Redeliver'}
                    </button>
                  )}
                </>
              }
            />
            {redeliver.isSuccess && (
              <p className="notice" role="status">
                Redelivery queued: the same payload is sent again with the same webhook id. New attempts
                appear below.
              </p>
            )}
            {redeliver.error && <ErrorBox error={redeliver.error} />}
            <dl className="facts">
              <div>
                <dt>Triggered</dt>
                <dd>
                  <Time iso={x.triggeredAt} />{' '}
                  <span className="muted small">({absoluteTime(x.triggeredAt)})</span>
                </dd>
              </div>
              <div>
                <dt>Automation</dt>
                <dd>
                  <Link to={`${base}/automations/${enc(x.automationId)}`}>{x.automationName}</Link>{' '}
                  <Link className="small" to={`${base}/history?automation=${enc(x.automationId)}`}>
                    (all its executions)
                  </Link>
                </dd>
              </div>
              <div>
                <dt>Execution id</dt>
                <dd className="mono small">{x.id}</dd>
              </div>
            </dl>

            <div className="two-col">
              <section className="panel" aria-labelledby="event-h">
                <h2 id="event-h" className="panel-title">
                  Event
                </h2>
                <p>
                  {EVENT_LABELS[x.event.type as keyof typeof EVENT_LABELS] ?? x.event.type}{' '}
                  <span className="mono small muted">{x.event.type}</span>
                </p>
                {x.event.details && Object.keys(x.event.details).length > 0 ? (
                  <table className="table compact">
                    <tbody>
                      {Object.entries(x.event.details).map(([k, v]) => (
                        <tr key={k}>
                          <th scope="row" title={k}>
                            {humanKey(k)}
                          </th>
                          <td className="mono small">{formatValue(v)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : (
                  <p className="muted">No details recorded.</p>
                )}
              </section>
              <section className="panel" aria-labelledby="action-h">
                <h2 id="action-h" className="panel-title">
                  Action
                </h2>
                <p>
                  {ACTION_LABELS[x.action.type as keyof typeof ACTION_LABELS] ?? x.action.type}
                  {x.action.target && (
                    <>
                      {' → '}
                      <span className="mono small">{x.action.target}</span>
                    </>
                  )}
                </p>
                <h3 className="small strong">Result</h3>
                {x.result && (x.result.status !== undefined || x.result.body || x.result.error) ? (
                  <dl className="facts compact">
                    {x.result.status !== undefined && (
                      <div>
                        <dt>HTTP status</dt>
                        <dd className="mono">{x.result.status}</dd>
                      </div>
                    )}
                    {x.result.error && (
                      <div>
                        <dt>Error</dt>
                        <dd className="text-red">{x.result.error}</dd>
                      </div>
                    )}
                  </dl>
                ) : (
                  <p className="muted">
                    {x.state === 'PENDING' ? 'Waiting for delivery…' : 'No result recorded.'}
                  </p>
                )}
                {x.result?.body && (
                  <>
                    <h3 className="small strong">Response excerpt</h3>
                    <JsonBlock value={x.result.body} label="Response body excerpt" />
                  </>
                )}
              </section>
            </div>

            <section aria-labelledby="payload-h">
              <h2 id="payload-h">Payload sent</h2>
              {x.action.payload !== undefined && x.action.payload !== null ? (
                <>
                  <JsonBlock value={x.action.payload} label="Rendered payload" />
                  <p className="help">Secret values are masked.</p>
                </>
              ) : (
                <p className="muted">This action has no payload.</p>
              )}
            </section>

            <section aria-labelledby="attempts-h">
              <h2 id="attempts-h">Attempts</h2>
              {x.attempts && x.attempts.length > 0 ? (
                <div className="table-wrap">
                  <table className="table compact">
                    <thead>
                      <tr>
                        <th scope="col">#</th>
                        <th scope="col">At</th>
                        <th scope="col">Status</th>
                        <th scope="col">Duration</th>
                        <th scope="col">Response / error</th>
                      </tr>
                    </thead>
                    <tbody>
                      {x.attempts.map((a, i) => (
                        <tr key={a.at}>
                          <td>{i + 1}</td>
                          <td>
                            <Time iso={a.at} />
                          </td>
                          <td>
                            {a.status !== undefined && a.status !== null ? (
                              <span
                                className={`badge ${a.status >= 200 && a.status < 300 ? 'badge-green' : 'badge-red'}`}
                              >
                                {a.status}
                              </span>
                            ) : (
                              <span className="badge badge-red">no response</span>
                            )}
                          </td>
                          <td className="mono small">
                            {a.durationMs !== undefined ? `${a.durationMs} ms` : '—'}
                          </td>
                          <td className="small">
                            {a.error ? (
                              <span className="text-red">{a.error}</span>
                            ) : (
                              <span className="mono truncate block">
                                {a.responseExcerpt ??
                                  (i === x.attempts!.length - 1 ? (x.result?.body ?? '') : '')}
                              </span>
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <p className="muted">
                  {x.action.type === 'NO_OP' ? 'A no-op action makes no attempts.' : 'No attempts yet.'}
                </p>
              )}
            </section>
          </>
        )}
      </Loader>
    </>
  );
}
