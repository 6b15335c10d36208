import { useQuery } from '@tanstack/react-query';
import { type Collection, enc, fetchAll } from '../api.js';
import { type Place, placeCrumbs } from '../place.js';
import { Link, path } from '../router.js';
import { Breadcrumbs, Chip, Empty, Loader, PageHeader, Tabs, Time } from '../ui.js';
import { AutomationsTab } from './Automations.js';
import { HistoryTab } from './History.js';
import { placeTabs, type Tab } from './Project.js';

export function RegistryPage({ place, tab }: { place: Place; tab: Tab }) {
  const tabs = placeTabs(place);
  const label = tabs.find((t) => t.id === tab)!.label;
  return (
    <>
      <Breadcrumbs items={[...placeCrumbs(place), { label }]} />
      <PageHeader title={place.name} kicker="Registry" />
      <Tabs items={tabs} current={tab} />
      {tab === 'main' && <CollectionsTab place={place} />}
      {tab === 'automations' && <AutomationsTab place={place} />}
      {tab === 'history' && <HistoryTab place={place} />}
    </>
  );
}

/** `team/project/collection:vN` → a link to the source project. */
function SourceLink({ source }: { source?: string }) {
  if (!source) return <span className="muted">—</span>;
  const [team, project] = source.split('/');
  if (!team || !project) return <span className="mono">{source}</span>;
  return (
    <Link className="mono" to={path('teams', team, 'projects', project)}>
      {source}
    </Link>
  );
}

function CollectionsTab({ place }: { place: Place }) {
  const collections = useQuery({
    queryKey: ['collections', place.team, place.name],
    queryFn: () =>
      fetchAll<Collection>(`/teams/${enc(place.team)}/registries/${enc(place.name)}/collections`),
  });
  return (
    <Loader query={collections} label="Loading collections…">
      {(items) =>
        items.length === 0 ? (
          <Empty title="Nothing is linked into this registry yet">
            Link an artifact version from a project with{' '}
            <code>
              POST /api/v1/teams/{place.team}/registries/{place.name}/collections/&lt;collection&gt;/links
            </code>{' '}
            and a body like <code>{'{"source":"team/project/collection:v0"}'}</code>. Set up an automation on{' '}
            <em>Link artifact</em> first to be told when that happens.
          </Empty>
        ) : (
          <div className="stack">
            {items.map((c) => (
              <section key={c.collection} className="panel" aria-labelledby={`col-${c.collection}`}>
                <h2 id={`col-${c.collection}`} className="panel-title">
                  {c.collection}{' '}
                  <span className="muted small">
                    {c.versions.length} version{c.versions.length === 1 ? '' : 's'}
                  </span>
                </h2>
                <div className="table-wrap">
                  <table className="table compact">
                    <thead>
                      <tr>
                        <th scope="col">Version</th>
                        <th scope="col">Aliases</th>
                        <th scope="col">Tags</th>
                        <th scope="col">Linked from</th>
                        <th scope="col">Linked</th>
                      </tr>
                    </thead>
                    <tbody>
                      {c.versions.map((v) => (
                        <tr key={v.version}>
                          <td className="mono">{v.version}</td>
                          <td>
                            {v.aliases.length
                              ? v.aliases.map((a) => (
                                  <Chip key={a} tone="accent">
                                    {a}
                                  </Chip>
                                ))
                              : '—'}
                          </td>
                          <td>{v.tags.length ? v.tags.map((t) => <Chip key={t}>{t}</Chip>) : '—'}</td>
                          <td>
                            <SourceLink source={v.source} />
                          </td>
                          <td>
                            <Time iso={v.createdAt} />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </section>
            ))}
          </div>
        )
      }
    </Loader>
  );
}
