import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { ApiError, api, enc, type HistoryRow, type Run } from '../api.js';
import { type Place, placeBase, placeCrumbs } from '../place.js';
import { LinePlot } from '../plot.js';
import { Link } from '../router.js';
import {
  Breadcrumbs,
  Chip,
  Empty,
  formatValue,
  JsonBlock,
  Loader,
  PageHeader,
  StateBadge,
  Time,
} from '../ui.js';

type Series = { name: string; steps: number[]; values: (number | null)[] };

/** One series per numeric metric, skipping internal `_` keys; `system/…` metrics are kept apart. */
function seriesOf(rows: HistoryRow[]): { metrics: Series[]; system: Series[] } {
  const sorted = [...rows].sort((a, b) => a._step - b._step);
  const names = new Set<string>();
  for (const r of sorted)
    for (const [k, v] of Object.entries(r)) if (!k.startsWith('_') && typeof v === 'number') names.add(k);
  const metrics: Series[] = [];
  const system: Series[] = [];
  for (const name of [...names].sort()) {
    const steps: number[] = [];
    const values: (number | null)[] = [];
    for (const r of sorted) {
      const v = r[name];
      if (typeof v !== 'number') continue;
      steps.push(r._step);
      values.push(Number.isFinite(v) ? v : null);
    }
    (name.startsWith('system/') ? system : metrics).push({ name, steps, values });
  }
  return { metrics, system };
}

export function RunPage({ place, runId }: { place: Place; runId: string }) {
  const runPath = `/teams/${enc(place.team)}/projects/${enc(place.name)}/runs/${enc(runId)}`;
  const run = useQuery({
    queryKey: ['run', place.team, place.name, runId],
    queryFn: () => api<Run>(runPath),
  });
  const live = run.data?.state === 'RUNNING' ? 10_000 : false;
  const history = useQuery({
    queryKey: ['run-history', place.team, place.name, runId],
    queryFn: () => api<{ rows: HistoryRow[] }>(`${runPath}/history`),
    refetchInterval: live,
  });
  // System metrics are sampled on their own clock; a server without them simply has none.
  const system = useQuery({
    queryKey: ['run-system', place.team, place.name, runId],
    queryFn: () =>
      api<{ rows: HistoryRow[] }>(`${runPath}/system`).catch((e) => {
        if (e instanceof ApiError && e.status === 404) return { rows: [] };
        throw e;
      }),
    refetchInterval: live,
  });
  const series = useMemo(() => {
    const fromHistory = seriesOf(history.data?.rows ?? []);
    const fromSystem = seriesOf(system.data?.rows ?? []);
    const systemSeries = [...fromHistory.system, ...fromSystem.system, ...fromSystem.metrics].map((x) =>
      x.name.startsWith('system/') ? x : { ...x, name: `system/${x.name}` },
    );
    return { metrics: fromHistory.metrics, system: systemSeries };
  }, [history.data, system.data]);
  const title = run.data?.displayName || runId;

  return (
    <>
      <Breadcrumbs
        items={[...placeCrumbs(place), { label: 'Runs', to: placeBase(place) }, { label: title }]}
      />
      <Loader query={run} label="Loading run…">
        {(r) => (
          <>
            <PageHeader title={title} kicker="Run" actions={<StateBadge state={r.state} />} />
            <dl className="facts">
              <div>
                <dt>Run id</dt>
                <dd className="mono">{r.id}</dd>
              </div>
              <div>
                <dt>Author</dt>
                <dd>{r.author}</dd>
              </div>
              <div>
                <dt>Started</dt>
                <dd>
                  <Time iso={r.createdAt} />
                </dd>
              </div>
              <div>
                <dt>Updated</dt>
                <dd>
                  <Time iso={r.updatedAt} />
                </dd>
              </div>
              {r.tags && r.tags.length > 0 && (
                <div>
                  <dt>Tags</dt>
                  <dd>
                    {r.tags.map((t) => (
                      <Chip key={t}>{t}</Chip>
                    ))}
                  </dd>
                </div>
              )}
            </dl>
          </>
        )}
      </Loader>

      <section aria-labelledby="charts-h">
        <h2 id="charts-h">Metrics</h2>
        <Loader query={history} label="Loading metric history…">
          {() =>
            series.metrics.length === 0 ? (
              <Empty title="No metrics logged yet">
                Metrics appear here when the run logs history rows (
                <code>wandb.log(&#123;loss: 0.3&#125;)</code> or <code>POST …/runs/{runId}/history</code>).
              </Empty>
            ) : (
              <PlotGrid place={place} series={series.metrics} />
            )
          }
        </Loader>
      </section>

      {series.system.length > 0 && (
        <section aria-labelledby="system-h">
          <h2 id="system-h">System metrics</h2>
          <PlotGrid place={place} series={series.system} />
        </section>
      )}

      {run.data && (
        <div className="two-col">
          <section aria-labelledby="summary-h">
            <h2 id="summary-h">Summary</h2>
            {Object.keys(run.data.summary ?? {}).length === 0 ? (
              <p className="muted">No summary values.</p>
            ) : (
              <table className="table compact">
                <tbody>
                  {Object.entries(run.data.summary)
                    .filter(([k]) => !k.startsWith('_'))
                    .map(([k, v]) => (
                      <tr key={k}>
                        <th scope="row">{k}</th>
                        <td className="mono">{formatValue(v)}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            )}
          </section>
          <section aria-labelledby="config-h">
            <h2 id="config-h">Config</h2>
            {Object.keys(run.data.config ?? {}).length === 0 ? (
              <p className="muted">No config.</p>
            ) : (
              <JsonBlock value={run.data.config} label="Run config" />
            )}
          </section>
        </div>
      )}
    </>
  );
}

function PlotGrid({ place, series }: { place: Place; series: Series[] }) {
  return (
    <div className="plots">
      {series.map((s) => (
        <figure key={s.name} className="plot-card">
          <figcaption>
            <span className="mono">{s.name}</span>
            <Link
              className="bell"
              to={`${placeBase(place)}/automations/new?event=RUN_METRIC&metric=${enc(s.name)}`}
              aria-label={`Create an automation on ${s.name}`}
              title={`Alert me about ${s.name}`}
            >
              <BellIcon />
            </Link>
          </figcaption>
          <LinePlot name={s.name} steps={s.steps} values={s.values} />
        </figure>
      ))}
    </div>
  );
}

function BellIcon() {
  return (
    <svg
      width="16"
      height="16"
      viewBox="0 0 24 24"
      aria-hidden="true"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
    >
      <path d="M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9" strokeLinecap="round" strokeLinejoin="round" />
      <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}
