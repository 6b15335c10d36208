import { useQuery } from '@tanstack/react-query';
import { enc, fetchAll, type Named, type Viewer } from '../api.js';
import { teamPlace } from '../place.js';
import { Link, path } from '../router.js';
import { Breadcrumbs, Empty, Loader, PageHeader, Tabs, Time } from '../ui.js';
import { AutomationsTab } from './Automations.js';
import { HistoryTab } from './History.js';

export function HomePage({ viewer }: { viewer: Viewer }) {
  return (
    <>
      <PageHeader title="Your teams" kicker={`Signed in as ${viewer.username}`} />
      {viewer.teams.length === 0 ? (
        <Empty title="You are not in any team yet">
          Ask a team admin to add you, or create one with <code>POST /api/v1/teams</code>.
        </Empty>
      ) : (
        <ul className="cards">
          {viewer.teams.map((t) => (
            <li key={t.name}>
              <Link to={path('teams', t.name)} className="card">
                <strong>{t.name}</strong>
                <span className="muted">{t.role === 'admin' ? 'Admin' : 'Member'}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

export type TeamTab = 'main' | 'automations' | 'history';

export function teamTabs(team: string) {
  const base = path('teams', team);
  return [
    { id: 'main', label: 'Overview', to: base },
    { id: 'automations', label: 'Team automations', to: `${base}/automations` },
    { id: 'history', label: 'Team history', to: `${base}/history` },
  ];
}

/** A team: its projects and registries, its team-wide automations, and the history of everything in it. */
export function TeamPage({ team, tab = 'main' }: { team: string; tab?: TeamTab }) {
  const tabs = teamTabs(team);
  const label = tabs.find((t) => t.id === tab)!.label;
  return (
    <>
      <Breadcrumbs
        items={tab === 'main' ? [{ label: team }] : [{ label: team, to: path('teams', team) }, { label }]}
      />
      <PageHeader
        title={team}
        kicker="Team"
        actions={
          <Link className="btn" to={path('teams', team, 'settings')}>
            Secrets &amp; integrations
          </Link>
        }
      />
      <Tabs items={tabs} current={tab} />
      {tab === 'main' && <TeamOverview team={team} />}
      {tab === 'automations' && (
        <>
          <p className="tab-intro muted">
            Team-wide automations watch every project and registry of {team}, including ones created later.
          </p>
          <AutomationsTab place={teamPlace(team)} />
        </>
      )}
      {tab === 'history' && (
        <>
          <p className="tab-intro muted">
            Every execution in the team — of its projects, registries and team-wide automations.
          </p>
          <HistoryTab place={teamPlace(team)} />
        </>
      )}
    </>
  );
}

function TeamOverview({ team }: { team: string }) {
  const projects = useQuery({
    queryKey: ['projects', team],
    queryFn: () => fetchAll<Named>(`/teams/${enc(team)}/projects`),
  });
  const registries = useQuery({
    queryKey: ['registries', team],
    queryFn: () => fetchAll<Named>(`/teams/${enc(team)}/registries`),
  });
  return (
    <div className="two-col">
      <section aria-labelledby="projects-h">
        <h2 id="projects-h">Projects</h2>
        <Loader query={projects} label="Loading projects…">
          {(items) =>
            items.length === 0 ? (
              <Empty title="No projects yet">
                A project appears when you log a run to it. Point the W&amp;B SDK at this server (
                <code>WANDB_BASE_URL={window.location.origin}</code>) and log with{' '}
                <code>entity="{team}"</code>, or call <code>POST /api/v1/teams/{team}/projects</code>.
              </Empty>
            ) : (
              <ul className="list">
                {items.map((p) => (
                  <li key={p.name}>
                    <Link to={path('teams', team, 'projects', p.name)}>{p.name}</Link>
                    <span className="muted">
                      created <Time iso={p.createdAt} />
                    </span>
                  </li>
                ))}
              </ul>
            )
          }
        </Loader>
      </section>
      <section aria-labelledby="registries-h">
        <h2 id="registries-h">Registries</h2>
        <Loader query={registries} label="Loading registries…">
          {(items) =>
            items.length === 0 ? (
              <Empty title="No registries yet">
                A registry is a team catalogue that artifact versions are linked into. Create one with{' '}
                <code>POST /api/v1/teams/{team}/registries</code>, then link versions to it.
              </Empty>
            ) : (
              <ul className="list">
                {items.map((r) => (
                  <li key={r.name}>
                    <Link to={path('teams', team, 'registries', r.name)}>{r.name}</Link>
                    <span className="muted">
                      created <Time iso={r.createdAt} />
                    </span>
                  </li>
                ))}
              </ul>
            )
          }
        </Loader>
      </section>
    </div>
  );
}
