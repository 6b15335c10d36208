import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ReactNode, StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, api, getApiKey, setApiKey, UNAUTHORIZED_EVENT, type Viewer } from './api.js';
import { AutomationFormPage } from './pages/AutomationForm.js';
import { ExecutionDetail } from './pages/History.js';
import { HomePage, TeamPage } from './pages/Home.js';
import { ProjectPage } from './pages/Project.js';
import { RegistryPage } from './pages/Registry.js';
import { RunPage } from './pages/Run.js';
import { SettingsPage } from './pages/Settings.js';
import { SignInPage } from './pages/SignIn.js';
import { type Place, teamPlace } from './place.js';
import { Link, match, navigate, path, useLocation } from './router.js';
import { ErrorBox, Spinner } from './ui.js';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      refetchOnWindowFocus: false,
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
    },
  },
});

function App() {
  const [key, setKey] = useState(getApiKey());
  const [rejected, setRejected] = useState(false);
  const qc = useQueryClient();

  useEffect(() => {
    const onUnauthorized = () => {
      setApiKey(null);
      setKey(null);
      setRejected(true);
      qc.clear();
    };
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
  }, [qc]);

  if (!key) {
    return (
      <SignInPage
        rejected={rejected}
        onSignedIn={(k, viewer) => {
          setApiKey(k);
          qc.setQueryData(['viewer'], viewer);
          setRejected(false);
          setKey(k);
        }}
      />
    );
  }
  return (
    <Shell
      onSignOut={() => {
        setApiKey(null);
        qc.clear();
        setRejected(false);
        setKey(null);
      }}
    />
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const viewer = useQuery({ queryKey: ['viewer'], queryFn: () => api<Viewer>('/viewer') });
  const { path: here } = useLocation();
  const seg = here.split('/');
  const team = seg[1] === 'teams' && seg[2] ? decodeURIComponent(seg[2]) : undefined;

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          <span className="brand-dot" aria-hidden="true" />
          Tripline
        </Link>
        {viewer.data && viewer.data.teams.length > 0 && (
          <label className="team-switch">
            <span className="sr-only">Team</span>
            <select
              value={team ?? ''}
              onChange={(e) => e.target.value && navigate(path('teams', e.target.value))}
            >
              {!team && <option value="">Choose a team…</option>}
              {viewer.data.teams.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {team && (
          <nav className="topnav" aria-label="Team">
            <Link to={path('teams', team)}>Projects</Link>
            <Link to={path('teams', team, 'settings')}>Settings</Link>
          </nav>
        )}
        <div className="topbar-right">
          {viewer.data && <span className="muted user">{viewer.data.username}</span>}
          <button type="button" className="btn btn-small btn-ghost" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" className="content">
        {viewer.isPending ? (
          <Spinner />
        ) : viewer.error ? (
          <ErrorBox error={viewer.error} retry={() => viewer.refetch()} />
        ) : (
          <Routes viewer={viewer.data!} />
        )}
      </main>
    </div>
  );
}

type Route = { pattern: string; render: (params: Record<string, string>) => ReactNode };

function placeRoutes(kind: 'projects' | 'registries'): Route[] {
  const base = `/teams/:team/${kind}/:name`;
  const place = (m: Record<string, string>): Place => ({
    team: m.team,
    kind: kind === 'projects' ? 'project' : 'registry',
    name: m.name,
  });
  const Page = kind === 'projects' ? ProjectPage : RegistryPage;
  return [
    { pattern: base, render: (m) => <Page place={place(m)} tab="main" /> },
    { pattern: `${base}/automations`, render: (m) => <Page place={place(m)} tab="automations" /> },
    { pattern: `${base}/history`, render: (m) => <Page place={place(m)} tab="history" /> },
    ...(kind === 'projects'
      ? [
          {
            pattern: `${base}/artifacts`,
            render: (m: Record<string, string>) => <Page place={place(m)} tab="artifacts" />,
          },
        ]
      : []),
    { pattern: `${base}/automations/new`, render: (m) => <AutomationFormPage place={place(m)} /> },
    { pattern: `${base}/automations/:id`, render: (m) => <AutomationFormPage place={place(m)} id={m.id} /> },
    {
      pattern: `${base}/history/:execution`,
      render: (m) => <ExecutionDetail place={place(m)} id={m.execution} />,
    },
  ];
}

const ROUTES: Route[] = [
  { pattern: '/teams/:team', render: (m) => <TeamPage team={m.team} /> },
  { pattern: '/teams/:team/automations', render: (m) => <TeamPage team={m.team} tab="automations" /> },
  { pattern: '/teams/:team/history', render: (m) => <TeamPage team={m.team} tab="history" /> },
  {
    pattern: '/teams/:team/automations/new',
    render: (m) => <AutomationFormPage place={teamPlace(m.team)} />,
  },
  {
    pattern: '/teams/:team/automations/:id',
    render: (m) => <AutomationFormPage place={teamPlace(m.team)} id={m.id} />,
  },
  {
    pattern: '/teams/:team/history/:execution',
    render: (m) => <ExecutionDetail place={teamPlace(m.team)} id={m.execution} />,
  },
  { pattern: '/teams/:team/settings', render: (m) => <SettingsPage team={m.team} /> },
  ...placeRoutes('projects'),
  ...placeRoutes('registries'),
  {
    pattern: '/teams/:team/projects/:name/runs/:run',
    render: (m) => <RunPage place={{ team: m.team, kind: 'project', name: m.name }} runId={m.run} />,
  },
];

function Routes({ viewer }: { viewer: Viewer }) {
  const { path: p } = useLocation();
  if (p === '/' || p === '') return <HomePage viewer={viewer} />;
  for (const r of ROUTES) {
    const m = match(r.pattern, p);
    if (m) return r.render(m);
  }
  return (
    <div className="narrow">
      <h1>Page not found</h1>
      <p>
        There is nothing at <code>{p}</code>. <Link to="/">Go to your teams</Link>.
      </p>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
