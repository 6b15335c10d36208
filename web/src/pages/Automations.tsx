import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { type Automation, api, enc, fetchAll, type Integration, qs, type Scope } from '../api.js';
import { describeAction, describeEvent, EVENT_LABELS } from '../events.js';
import { type Place, placeBase, placeOfScope, placeParam } from '../place.js';
import { Link } from '../router.js';
import { ConfirmDialog, DeleteButton, Empty, ErrorBox, errorMessage, Loader, Time } from '../ui.js';

export function useIntegrations(team: string) {
  return useQuery({
    queryKey: ['integrations', team],
    queryFn: () => fetchAll<Integration>(`/teams/${enc(team)}/integrations`),
  });
}

export function automationsKey(place: Place) {
  return ['automations', place.team, place.kind, place.name];
}

/** Where an automation watches, in words: "Team-wide", "Project mnist", "Collection c in registry r". */
export function describeScope(s: Scope): string {
  if (s.type === 'TEAM') return 'Team-wide';
  const where = s.project ? `project ${s.project}` : `registry ${s.registry}`;
  if (s.type === 'ARTIFACT_COLLECTION') return `Collection ${s.collection} in ${where}`;
  return where[0].toUpperCase() + where.slice(1);
}

export function AutomationsTab({ place }: { place: Place }) {
  const qc = useQueryClient();
  const base = placeBase(place);
  const automations = useQuery({
    queryKey: automationsKey(place),
    queryFn: () => fetchAll<Automation>(`/automations${qs({ team: place.team, ...placeParam(place) })}`),
    refetchInterval: 15_000,
  });
  const integrations = useIntegrations(place.team);
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<'name' | 'last'>('name');
  // The team's list holds every automation of the team; by default only the team-scope ones.
  const isTeam = place.kind === 'team';
  const [allScopes, setAllScopes] = useState(false);
  const showScope = isTeam && allScopes;
  const [deleting, setDeleting] = useState<Automation | null>(null);

  const toggle = useMutation({
    mutationFn: (a: Automation) =>
      api<Automation>(`/automations/${enc(a.id)}`, { method: 'PATCH', body: { enabled: !a.enabled } }),
    onSuccess: () => qc.invalidateQueries({ queryKey: automationsKey(place) }),
  });
  const remove = useMutation({
    mutationFn: (a: Automation) => api(`/automations/${enc(a.id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      setDeleting(null);
      qc.invalidateQueries({ queryKey: automationsKey(place) });
    },
  });

  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    const list = (automations.data ?? []).filter(
      (a) => (!isTeam || allScopes || a.scope.type === 'TEAM') && (!q || a.name.toLowerCase().includes(q)),
    );
    return list.sort((a, b) =>
      sort === 'name'
        ? a.name.localeCompare(b.name)
        : Date.parse(b.lastExecutionAt ?? '0') - Date.parse(a.lastExecutionAt ?? '0') ||
          a.name.localeCompare(b.name),
    );
  }, [automations.data, search, sort, isTeam, allScopes]);
  const elsewhere = isTeam ? (automations.data ?? []).filter((a) => a.scope.type !== 'TEAM').length : 0;

  return (
    <>
      <div className="toolbar">
        <label className="search">
          <span className="sr-only">Search automations by name</span>
          <input
            type="search"
            placeholder="Search by name…"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        <label className="inline-label">
          Sort by{' '}
          <select value={sort} onChange={(e) => setSort(e.target.value as 'name' | 'last')}>
            <option value="name">Name</option>
            <option value="last">Last triggered</option>
          </select>
        </label>
        {isTeam && (
          <label className="inline-label">
            Show{' '}
            <select
              value={allScopes ? 'all' : 'team'}
              onChange={(e) => setAllScopes(e.target.value === 'all')}
            >
              <option value="team">Team-wide automations</option>
              <option value="all">All automations of the team</option>
            </select>
          </label>
        )}
        <div className="spacer" />
        <Link className="btn btn-primary" to={`${base}/automations/new`}>
          New automation
        </Link>
      </div>
      {toggle.error && <ErrorBox error={toggle.error} />}
      <Loader query={automations} label="Loading automations…">
        {(items) =>
          isTeam && !allScopes && shown.length === 0 && !search.trim() ? (
            <Empty title="No team-wide automations yet">
              A team-wide automation watches every project and registry of <strong>{place.team}</strong>,
              including those created later — a run failing anywhere, the <code>production</code> alias
              landing on any artifact, a version linked into any registry.{' '}
              <Link to={`${base}/automations/new`}>Create a team-wide automation</Link>
              {elsewhere > 0 && (
                <>
                  , or{' '}
                  <button type="button" className="link-button" onClick={() => setAllScopes(true)}>
                    show the {elsewhere} automation{elsewhere === 1 ? '' : 's'} of its projects and registries
                  </button>
                </>
              )}
              .
            </Empty>
          ) : items.length === 0 ? (
            <Empty title="No automations yet">
              An automation watches for an event here — a run failing, a metric crossing a threshold, an alias
              moving to a version — and posts to Slack or a webhook.{' '}
              <Link to={`${base}/automations/new`}>Create your first automation</Link>
              {place.kind === 'project' && (
                <>, or open a run and press the bell on one of its plots to alert on that metric</>
              )}
              . Webhooks and Slack need an integration in{' '}
              <Link to={`/teams/${enc(place.team)}/settings`}>team settings</Link> first.
            </Empty>
          ) : shown.length === 0 ? (
            <Empty title={`No automation matches “${search}”`}>Try a shorter search.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="table stacked">
                <caption className="sr-only">Automations</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    {showScope && <th scope="col">Scope</th>}
                    <th scope="col">Event</th>
                    <th scope="col">Action</th>
                    <th scope="col">Enabled</th>
                    <th scope="col">Last triggered</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((a) => {
                    // Edited from its own place, so the form keeps its scope.
                    const home = placeBase(placeOfScope(a.scope));
                    return (
                      <tr key={a.id}>
                        <td data-label="Name">
                          <Link to={`${home}/automations/${enc(a.id)}`} className="strong">
                            {a.name}
                          </Link>
                          {a.description && <div className="muted small">{a.description}</div>}
                        </td>
                        {showScope && (
                          <td data-label="Scope">
                            {a.scope.type === 'TEAM' ? (
                              <span className="muted">Team-wide</span>
                            ) : (
                              <Link to={home}>{describeScope(a.scope)}</Link>
                            )}
                          </td>
                        )}
                        <td data-label="Event">
                          <div className="small muted">{EVENT_LABELS[a.event.type] ?? a.event.type}</div>
                          <div className="mono small">{describeEvent(a)}</div>
                        </td>
                        <td data-label="Action">{describeAction(a.action, integrations.data)}</td>
                        <td data-label="Enabled">
                          <label className="switch">
                            <input
                              type="checkbox"
                              role="switch"
                              aria-checked={a.enabled}
                              checked={a.enabled}
                              disabled={toggle.isPending && toggle.variables?.id === a.id}
                              onChange={() => toggle.mutate(a)}
                              aria-label={`Enabled: ${a.name}`}
                            />
                            <span aria-hidden="true" />
                          </label>
                        </td>
                        <td data-label="Last triggered">
                          {a.lastExecutionAt ? (
                            <Link
                              to={`${base}/history?automation=${enc(a.id)}`}
                              title="Show this automation's history"
                            >
                              <Time iso={a.lastExecutionAt} />
                            </Link>
                          ) : (
                            <span className="muted">never</span>
                          )}
                          {a.suppressedCount ? (
                            <div
                              className="small muted"
                              title="Firings held back by the rate limit or cooldown"
                            >
                              {a.suppressedCount} suppressed
                            </div>
                          ) : null}
                        </td>
                        <td className="row-actions">
                          <Link
                            className="btn btn-small"
                            to={`${home}/automations/${enc(a.id)}`}
                            aria-label={`Edit ${a.name}`}
                          >
                            Edit
                          </Link>
                          <DeleteButton
                            name={a.name}
                            onClick={() => {
                              remove.reset();
                              setDeleting(a);
                            }}
                          />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </Loader>
      <ConfirmDialog
        open={deleting !== null}
        title="Delete automation?"
        confirmLabel="Delete automation"
        busy={remove.isPending}
        error={remove.error ? errorMessage(remove.error) : undefined}
        onClose={() => setDeleting(null)}
        onConfirm={() => deleting && remove.mutate(deleting)}
      >
        <p>
          <strong>{deleting?.name}</strong> will stop watching for events. Its past executions stay in the
          history.
        </p>
      </ConfirmDialog>
    </>
  );
}
