import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { enc, fetchAll, type Run } from '../api.js';
import { type Place, placeBase, placeCrumbs } from '../place.js';
import { Link } from '../router.js';
import { Breadcrumbs, Empty, formatValue, Loader, PageHeader, StateBadge, Tabs, Time } from '../ui.js';
import { CollectionsTab } from './Artifacts.js';
import { AutomationsTab } from './Automations.js';
import { HistoryTab } from './History.js';

export type Tab = 'main' | 'artifacts' | 'automations' | 'history';

export function placeTabs(place: Place) {
  const base = placeBase(place);
  return [
    { id: 'main', label: place.kind === 'project' ? 'Runs' : 'Collections', to: base },
    ...(place.kind === 'project' ? [{ id: 'artifacts', label: 'Artifacts', to: `${base}/artifacts` }] : []),
    { id: 'automations', label: 'Automations', to: `${base}/automations` },
    { id: 'history', label: 'History', to: `${base}/history` },
  ];
}

export function ProjectPage({ place, tab }: { place: Place; tab: Tab }) {
  const tabs = placeTabs(place);
  const label = tabs.find((t) => t.id === tab)!.label;
  return (
    <>
      <Breadcrumbs items={[...placeCrumbs(place), { label }]} />
      <PageHeader title={place.name} kicker="Project" />
      <Tabs items={tabs} current={tab} />
      {tab === 'main' && <RunsTab place={place} />}
      {tab === 'artifacts' && <CollectionsTab place={place} />}
      {tab === 'automations' && <AutomationsTab place={place} />}
      {tab === 'history' && <HistoryTab place={place} />}
    </>
  );
}

/** The summary keys worth a column: numeric, not internal, most common first. */
function keySummaryColumns(runs: Run[], max = 4): string[] {
  const counts = new Map<string, number>();
  for (const r of runs)
    for (const [k, v] of Object.entries(r.summary ?? {}))
      if (!k.startsWith('_') && !k.startsWith('system/') && typeof v === 'number')
        counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, max)
    .map(([k]) => k);
}

function RunsTab({ place }: { place: Place }) {
  const runs = useQuery({
    queryKey: ['runs', place.team, place.name],
    queryFn: () => fetchAll<Run>(`/teams/${enc(place.team)}/projects/${enc(place.name)}/runs`),
    refetchInterval: 10_000,
  });
  const columns = useMemo(() => keySummaryColumns(runs.data ?? []), [runs.data]);
  return (
    <Loader query={runs} label="Loading runs…">
      {(items) =>
        items.length === 0 ? (
          <Empty title="No runs in this project yet">
            Log a run with the W&amp;B SDK (<code>WANDB_BASE_URL={window.location.origin}</code>, project{' '}
            <code>{place.name}</code>) or with{' '}
            <code>
              POST /api/v1/teams/{place.team}/projects/{place.name}/runs
            </code>
            . Its metrics will be plotted here, and you can set alerts on them.
          </Empty>
        ) : (
          <div className="table-wrap">
            <table className="table stacked">
              <caption className="sr-only">Runs of {place.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">State</th>
                  <th scope="col">Author</th>
                  <th scope="col">Started</th>
                  {columns.map((c) => (
                    <th key={c} scope="col" className="num">
                      {c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.id}>
                    <td data-label="Run">
                      <Link to={`${placeBase(place)}/runs/${enc(r.id)}`}>{r.displayName || r.id}</Link>
                      {r.displayName && r.displayName !== r.id && (
                        <div className="muted small mono">{r.id}</div>
                      )}
                    </td>
                    <td data-label="State">
                      <StateBadge state={r.state} />
                    </td>
                    <td data-label="Author">{r.author}</td>
                    <td data-label="Started">
                      <Time iso={r.createdAt} />
                    </td>
                    {columns.map((c) => (
                      <td key={c} data-label={c} className="num mono">
                        {formatValue(r.summary?.[c])}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      }
    </Loader>
  );
}
