/** Artifact collections of a project (logged versions) or a registry (linked versions). */
import { useQuery } from '@tanstack/react-query';
import { type ArtifactVersion, type Collection, enc, fetchAll } from '../api.js';
import { type Place, placeBase } from '../place.js';
import { Link, path } from '../router.js';
import { Chip, Empty, formatValue, Loader, Time } from '../ui.js';

/** `team/project/collection:vN` → a link to the source project's artifacts. */
function SourceLink({ source }: { source?: string }) {
  if (!source) return <span className="muted">—</span>;
  const [team, project] = source.split('/');
  if (!team || !project) return <span className="mono">{source}</span>;
  return (
    <Link className="mono" to={`${path('teams', team, 'projects', project)}/artifacts`}>
      {source}
    </Link>
  );
}

/** A digest is long and opaque: the first 12 characters, the whole in a tooltip. */
function Digest({ digest }: { digest?: string }) {
  if (!digest) return <span className="muted">—</span>;
  return (
    <span className="mono small" title={digest}>
      {digest.length > 14 ? `${digest.slice(0, 12)}…` : digest}
    </span>
  );
}

const SHOWN_KEYS = 3;

/** The first few metadata keys inline; the whole object behind a disclosure when there is more. */
function Metadata({ value, label }: { value?: Record<string, unknown>; label: string }) {
  const entries = Object.entries(value ?? {});
  if (entries.length === 0) return <span className="muted">—</span>;
  const simple = entries.every(([, v]) => v === null || typeof v !== 'object');
  return (
    <div className="metadata">
      <ul className="kv">
        {entries.slice(0, SHOWN_KEYS).map(([k, v]) => (
          <li key={k} className="kv-item">
            <span className="muted">{k}</span>{' '}
            <span className="mono">{truncateText(formatValue(v), 40)}</span>
          </li>
        ))}
      </ul>
      {(entries.length > SHOWN_KEYS || !simple) && (
        <details>
          <summary>
            {entries.length > SHOWN_KEYS ? `${entries.length - SHOWN_KEYS} more…` : 'As JSON'}
            <span className="sr-only"> — all metadata of {label}</span>
          </summary>
          <pre className="code small">{JSON.stringify(value, null, 2)}</pre>
        </details>
      )}
    </div>
  );
}

function truncateText(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function Labels({ items, tone }: { items: string[]; tone?: 'accent' }) {
  if (items.length === 0) return <span className="muted">—</span>;
  return (
    <span className="labels">
      {items.map((a) => (
        <Chip key={a} tone={tone}>
          {a}
        </Chip>
      ))}
    </span>
  );
}

function VersionRow({ place, c, v }: { place: Place; c: Collection; v: ArtifactVersion }) {
  const inRegistry = place.kind === 'registry';
  return (
    <tr>
      <td data-label="Version" className="mono">
        {v.version}
      </td>
      <td data-label="Aliases">
        <Labels items={v.aliases} tone="accent" />
      </td>
      <td data-label="Tags">
        <Labels items={v.tags} />
      </td>
      {inRegistry && (
        <td data-label="Linked from">
          <SourceLink source={v.source} />
        </td>
      )}
      <td data-label="Digest">
        <Digest digest={v.digest} />
      </td>
      <td data-label="Metadata">
        <Metadata value={v.metadata} label={`${c.collection}:${v.version}`} />
      </td>
      <td data-label={inRegistry ? 'Linked' : 'Created'}>
        <Time iso={v.createdAt} />
      </td>
    </tr>
  );
}

export function CollectionsTab({ place }: { place: Place }) {
  const inRegistry = place.kind === 'registry';
  const collections = useQuery({
    queryKey: ['collections', place.team, place.kind, place.name],
    queryFn: () =>
      fetchAll<Collection>(
        inRegistry
          ? `/teams/${enc(place.team)}/registries/${enc(place.name)}/collections`
          : `/teams/${enc(place.team)}/projects/${enc(place.name)}/artifacts`,
      ),
    refetchInterval: 15_000,
  });
  const base = placeBase(place);
  return (
    <Loader query={collections} label="Loading collections…">
      {(items) =>
        items.length === 0 ? (
          inRegistry ? (
            <Empty title="Nothing is linked into this registry yet">
              Link an artifact version from a project with{' '}
              <code>
                POST /api/v1/teams/{place.team}/registries/{place.name}/collections/&lt;collection&gt;/links
              </code>{' '}
              and a body like <code>{'{"source":"team/project/collection:v0"}'}</code>. Set up an automation
              on <em>Link artifact</em> first to be told when that happens.
            </Empty>
          ) : (
            <Empty title="No artifacts in this project yet">
              An artifact collection appears when a run logs an artifact, or with{' '}
              <code>
                POST /api/v1/teams/{place.team}/projects/{place.name}/artifacts
              </code>{' '}
              and a body like <code>{'{"collection":"classifier","type":"model"}'}</code>. To be told when one
              is created or gets an alias,{' '}
              <Link to={`${base}/automations/new?event=CREATE_ARTIFACT`}>set up an automation</Link>.
            </Empty>
          )
        ) : (
          <div className="stack">
            {items.map((c) => {
              const hid = `col-${c.collection}`;
              return (
                <section key={c.collection} className="panel" aria-labelledby={hid}>
                  <div className="panel-head">
                    <h2 id={hid} className="panel-title">
                      {c.collection} {c.type && <span className="chip chip-type">{c.type}</span>}{' '}
                      <span className="muted small">
                        {c.versions.length} version{c.versions.length === 1 ? '' : 's'}
                      </span>
                    </h2>
                    <Link
                      className="btn btn-small"
                      to={`${base}/automations/new?collection=${enc(c.collection)}`}
                      aria-label={`Watch collection ${c.collection}`}
                    >
                      Watch
                    </Link>
                  </div>
                  <div className="table-wrap">
                    <table className="table compact stacked">
                      <caption className="sr-only">Versions of {c.collection}, newest first</caption>
                      <thead>
                        <tr>
                          <th scope="col">Version</th>
                          <th scope="col">Aliases</th>
                          <th scope="col">Tags</th>
                          {inRegistry && <th scope="col">Linked from</th>}
                          <th scope="col">Digest</th>
                          <th scope="col">Metadata</th>
                          <th scope="col">{inRegistry ? 'Linked' : 'Created'}</th>
                        </tr>
                      </thead>
                      <tbody>
                        {c.versions.map((v) => (
                          <VersionRow key={v.version} place={place} c={c} v={v} />
                        ))}
                      </tbody>
                    </table>
                  </div>
                </section>
              );
            })}
          </div>
        )
      }
    </Loader>
  );
}
