import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import {
  ApiError,
  api,
  enc,
  fetchAll,
  type Integration,
  type Secret,
  type Team,
  type TestResult,
} from '../api.js';
import { path } from '../router.js';
import {
  Breadcrumbs,
  Chip,
  ConfirmDialog,
  DeleteButton,
  Dialog,
  Empty,
  ErrorBox,
  errorMessage,
  Field,
  JsonBlock,
  Loader,
  PageHeader,
  RowButton,
  SelectField,
  StateBadge,
  Time,
} from '../ui.js';
import { useIntegrations } from './Automations.js';

const SECRET_NAME = /^[A-Za-z0-9_]+$/;

/** A 409 "in use" answer lists the users in `error.details.usedBy`. */
function usedByOf(err: unknown): Secret['usedBy'] | undefined {
  if (!(err instanceof ApiError) || err.status !== 409) return undefined;
  const details = err.body?.details as { usedBy?: Secret['usedBy'] } | undefined;
  return details?.usedBy ?? (err.body?.usedBy as Secret['usedBy'] | undefined);
}

function useSecrets(team: string) {
  return useQuery({
    queryKey: ['secrets', team],
    queryFn: () => fetchAll<Secret>(`/teams/${enc(team)}/secrets`),
  });
}

/** Maps an API error to the form field it names (last path segment), else a general message. */
function fieldErrors(
  err: unknown,
  fields: string[],
): { byField: Record<string, string>; general: string | null } {
  if (!err) return { byField: {}, general: null };
  if (err instanceof ApiError && err.field) {
    const f = fields.find(
      (x) => err.field === x || err.field!.endsWith(`.${x}`) || err.field!.startsWith(`${x}.`),
    );
    if (f) return { byField: { [f]: err.message }, general: null };
  }
  return { byField: {}, general: errorMessage(err) };
}

export function SettingsPage({ team }: { team: string }) {
  const info = useQuery({ queryKey: ['team', team], queryFn: () => api<Team>(`/teams/${enc(team)}`) });
  const isAdmin = info.data?.role === 'admin';
  return (
    <>
      <Breadcrumbs items={[{ label: team, to: path('teams', team) }, { label: 'Settings' }]} />
      <PageHeader title="Secrets & integrations" kicker={`Team ${team}`} />
      {info.data && !isAdmin && (
        <p className="notice">
          Only team admins can change secrets and integrations. You can look, but not edit.
        </p>
      )}
      <SecretsSection team={team} canEdit={isAdmin} />
      <IntegrationsSection team={team} kind="webhook" canEdit={isAdmin} />
      <IntegrationsSection team={team} kind="slack" canEdit={isAdmin} />
      {info.data && (
        <section aria-labelledby="members-h">
          <h2 id="members-h">Members</h2>
          <ul className="list">
            {info.data.members.map((m) => (
              <li key={m.username}>
                {m.username} <span className="muted">{m.role}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}

function UsedBy({ usedBy }: { usedBy: Secret['usedBy'] }) {
  if (!usedBy.length) return <span className="muted">not used</span>;
  return (
    <>
      {usedBy.map((u) => (
        <Chip key={`${u.kind}-${u.id}`}>
          {u.kind === 'integration' ? 'Integration' : 'Automation'}: {u.name}
        </Chip>
      ))}
    </>
  );
}

function SecretsSection({ team, canEdit }: { team: string; canEdit: boolean }) {
  const qc = useQueryClient();
  const secrets = useSecrets(team);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [localErr, setLocalErr] = useState<Record<string, string>>({});
  const [rotating, setRotating] = useState<Secret | null>(null);
  const [deleting, setDeleting] = useState<Secret | null>(null);
  const [rotateValue, setRotateValue] = useState('');
  const [saved, setSaved] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: ['secrets', team] });

  const put = useMutation({
    mutationFn: (v: { name: string; value: string }) =>
      api(`/teams/${enc(team)}/secrets/${enc(v.name)}`, { method: 'PUT', body: { value: v.value } }),
    onSuccess: (_d, v) => {
      setSaved(v.name);
      refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (s: Secret) =>
      api(`/teams/${enc(team)}/secrets/${enc(s.name)}${s.usedBy.length ? '?force=true' : ''}`, {
        method: 'DELETE',
      }),
    onSuccess: () => {
      setDeleting(null);
      refresh();
    },
    onError: refresh,
  });

  const add = (e: FormEvent) => {
    e.preventDefault();
    const errs: Record<string, string> = {};
    if (!SECRET_NAME.test(name)) errs.name = 'Use letters, digits and _ only, e.g. WEBHOOK_TOKEN.';
    else if (secrets.data?.some((s) => s.name === name))
      errs.name = `A secret named ${name} exists already. Use Rotate on it to change its value.`;
    if (!value) errs.value = 'Enter the secret value.';
    setLocalErr(errs);
    if (Object.keys(errs).length) return;
    put.mutate(
      { name, value },
      {
        onSuccess: () => {
          setName('');
          setValue('');
        },
      },
    );
  };
  const apiErr = rotating ? { byField: {}, general: null } : fieldErrors(put.error, ['name', 'value']);
  // A 409 names the users of the secret; show them.
  const conflictUsers = usedByOf(remove.error);

  return (
    <section aria-labelledby="secrets-h" className="settings-section">
      <h2 id="secrets-h">Secrets</h2>
      <p className="help">
        Tokens and signing keys used by integrations and webhook payloads (as <code>${'{NAME}'}</code>).
        Values are encrypted and never shown again once saved — rotate a secret to change it.
      </p>
      <Loader query={secrets} label="Loading secrets…">
        {(items) =>
          items.length === 0 ? (
            <Empty title="No secrets yet">
              Add the access token or signing secret your webhook receiver expects, then pick it when you
              create a webhook integration below.
            </Empty>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <caption className="sr-only">Secrets</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Value</th>
                    <th scope="col">Updated</th>
                    <th scope="col">Used by</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((s) => (
                    <tr key={s.name}>
                      <td className="mono strong">{s.name}</td>
                      <td className="muted" aria-label="hidden value">
                        ••••••••
                      </td>
                      <td>
                        <Time iso={s.updatedAt} />
                      </td>
                      <td>
                        <UsedBy usedBy={s.usedBy} />
                      </td>
                      <td className="row-actions">
                        {canEdit && (
                          <>
                            <RowButton
                              label={`Rotate ${s.name}`}
                              onClick={() => {
                                put.reset();
                                setRotateValue('');
                                setRotating(s);
                              }}
                            >
                              Rotate
                            </RowButton>
                            <DeleteButton
                              name={s.name}
                              onClick={() => {
                                remove.reset();
                                setDeleting(s);
                              }}
                            />
                          </>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loader>
      {canEdit && (
        <form className="inline-form" onSubmit={add} noValidate aria-label="Add a secret">
          <Field label="New secret name" error={localErr.name ?? apiErr.byField.name}>
            {(p) => (
              <input
                {...p}
                className="mono"
                value={name}
                onChange={(e) => setName(e.target.value)}
                autoComplete="off"
                placeholder="WEBHOOK_TOKEN"
              />
            )}
          </Field>
          <Field label="Value" error={localErr.value ?? apiErr.byField.value}>
            {(p) => (
              <input
                {...p}
                type="password"
                value={value}
                onChange={(e) => setValue(e.target.value)}
                autoComplete="new-password"
              />
            )}
          </Field>
          <button type="submit" className="btn btn-primary" disabled={put.isPending}>
            {put.isPending && !rotating ? 'Saving…' : 'Add secret'}
          </button>
          {apiErr.general && (
            <div className="field-error" role="alert">
              {apiErr.general}
            </div>
          )}
          {saved && !rotating && !put.error && (
            <div className="ok-text" role="status">
              Saved {saved}. Its value will not be shown again.
            </div>
          )}
        </form>
      )}

      <Dialog
        open={rotating !== null}
        title={`Rotate ${rotating?.name ?? ''}`}
        onClose={() => setRotating(null)}
        footer={
          <>
            <button type="button" className="btn" onClick={() => setRotating(null)}>
              Cancel
            </button>
            <button
              type="button"
              className="btn btn-primary"
              disabled={put.isPending || !rotateValue}
              onClick={() =>
                rotating &&
                put.mutate(
                  { name: rotating.name, value: rotateValue },
                  { onSuccess: () => setRotating(null) },
                )
              }
            >
              {put.isPending ? 'Saving…' : 'Save new value'}
            </button>
          </>
        }
      >
        <p>The new value replaces the old one everywhere it is used, from the next delivery on.</p>
        {rotating && rotating.usedBy.length > 0 && (
          <p>
            Used by: <UsedBy usedBy={rotating.usedBy} />
          </p>
        )}
        <Field label="New value" error={put.error ? errorMessage(put.error) : null}>
          {(p) => (
            <input
              {...p}
              type="password"
              autoComplete="new-password"
              value={rotateValue}
              onChange={(e) => setRotateValue(e.target.value)}
            />
          )}
        </Field>
      </Dialog>

      <ConfirmDialog
        open={deleting !== null}
        title={`Delete secret ${deleting?.name ?? ''}?`}
        confirmLabel={deleting?.usedBy.length ? 'Delete anyway' : 'Delete secret'}
        busy={remove.isPending}
        error={remove.error}
        onClose={() => setDeleting(null)}
        onConfirm={() => deleting && remove.mutate(deleting)}
      >
        {deleting && deleting.usedBy.length > 0 ? (
          <>
            <p className="text-red">
              This secret is in use. Deleting it breaks these until you give them another secret:
            </p>
            <ul>
              {deleting.usedBy.map((u) => (
                <li key={`${u.kind}-${u.id}`}>
                  {u.kind === 'integration' ? 'Integration' : 'Automation'} <strong>{u.name}</strong>
                </li>
              ))}
            </ul>
          </>
        ) : (
          <p>No integration or automation uses it. This cannot be undone.</p>
        )}
        {conflictUsers && conflictUsers.length > 0 && (
          <p>
            Now used by: <UsedBy usedBy={conflictUsers} />
          </p>
        )}
      </ConfirmDialog>
    </section>
  );
}

type IntegrationDraft = {
  name: string;
  url: string;
  accessTokenSecret: string;
  secret: string;
  mode: 'bot' | 'webhook';
  channel: string;
  botTokenSecret: string;
  webhookUrlSecret: string;
};

function draftOf(i?: Integration): IntegrationDraft {
  return {
    name: i?.name ?? '',
    url: i?.url ?? '',
    accessTokenSecret: i?.accessTokenSecret ?? '',
    secret: i?.secret ?? '',
    mode: i?.webhookUrlSecret ? 'webhook' : 'bot',
    channel: i?.channel ?? '',
    botTokenSecret: i?.botTokenSecret ?? '',
    webhookUrlSecret: i?.webhookUrlSecret ?? '',
  };
}

function IntegrationsSection({
  team,
  kind,
  canEdit,
}: {
  team: string;
  kind: 'webhook' | 'slack';
  canEdit: boolean;
}) {
  const qc = useQueryClient();
  const integrations = useIntegrations(team);
  const [editing, setEditing] = useState<Integration | 'new' | null>(null);
  const [testing, setTesting] = useState<Integration | null>(null);
  const [deleting, setDeleting] = useState<Integration | null>(null);
  const remove = useMutation({
    mutationFn: ({ i, force }: { i: Integration; force: boolean }) =>
      api(`/teams/${enc(team)}/integrations/${enc(i.id)}${force ? '?force=true' : ''}`, { method: 'DELETE' }),
    onSuccess: () => {
      setDeleting(null);
      qc.invalidateQueries({ queryKey: ['integrations', team] });
      qc.invalidateQueries({ queryKey: ['secrets', team] });
      qc.invalidateQueries({ queryKey: ['automations'] });
    },
  });
  // A delete refused because automations use the integration names them; confirming again forces it.
  const inUseBy = usedByOf(remove.error);
  const title = kind === 'webhook' ? 'Webhook integrations' : 'Slack integrations';
  const hId = `${kind}-h`;

  return (
    <section aria-labelledby={hId} className="settings-section">
      <div className="section-head">
        <h2 id={hId}>{title}</h2>
        {canEdit && (
          <button type="button" className="btn" onClick={() => setEditing('new')}>
            {kind === 'webhook' ? 'Add webhook' : 'Add Slack'}
          </button>
        )}
      </div>
      <Loader query={integrations} label="Loading integrations…">
        {(all) => {
          const items = all.filter((i) => i.kind === kind);
          if (items.length === 0)
            return (
              <Empty title={kind === 'webhook' ? 'No webhook integrations yet' : 'No Slack integrations yet'}>
                {kind === 'webhook'
                  ? 'A webhook integration holds a URL and, optionally, an access token and a signing secret. Automations then POST their JSON payload to it. Add one, then press Test to check the receiver answers.'
                  : 'Connect a Slack channel with a bot token secret, or an incoming-webhook URL kept as a secret. Automations with a Slack action post there.'}
              </Empty>
            );
          return (
            <div className="table-wrap">
              <table className="table">
                <caption className="sr-only">{title}</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">{kind === 'webhook' ? 'URL' : 'Destination'}</th>
                    <th scope="col">Secrets</th>
                    <th scope="col">Status</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((i) => (
                    <tr key={i.id}>
                      <td className="strong">{i.name}</td>
                      <td className="mono small truncate">
                        {kind === 'webhook' ? i.url : i.channel ? `#${i.channel}` : 'incoming webhook'}
                      </td>
                      <td className="small">
                        {kind === 'webhook' ? (
                          <>
                            {i.accessTokenSecret && <Chip>token: {i.accessTokenSecret}</Chip>}
                            {i.secret && <Chip>signing: {i.secret}</Chip>}
                            {!i.accessTokenSecret && !i.secret && <span className="muted">none</span>}
                          </>
                        ) : (
                          <Chip>{i.botTokenSecret ?? i.webhookUrlSecret}</Chip>
                        )}
                      </td>
                      <td>{i.status ? <StateBadge state={i.status} /> : '—'}</td>
                      <td className="row-actions">
                        <RowButton label={`Test ${i.name}`} onClick={() => setTesting(i)}>
                          Test
                        </RowButton>
                        {canEdit && (
                          <>
                            <RowButton label={`Edit ${i.name}`} onClick={() => setEditing(i)}>
                              Edit
                            </RowButton>
                            <DeleteButton
                              name={i.name}
                              onClick={() => {
                                remove.reset();
                                setDeleting(i);
                              }}
                            />
                          </>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          );
        }}
      </Loader>
      {editing && (
        <IntegrationDialog
          team={team}
          kind={kind}
          existing={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
        />
      )}
      {testing && <TestDialog team={team} integration={testing} onClose={() => setTesting(null)} />}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete integration ${deleting?.name ?? ''}?`}
        confirmLabel={inUseBy ? 'Delete anyway and disable them' : 'Delete integration'}
        busy={remove.isPending}
        error={inUseBy ? undefined : remove.error}
        onClose={() => setDeleting(null)}
        onConfirm={() => deleting && remove.mutate({ i: deleting, force: !!inUseBy })}
      >
        {inUseBy ? (
          <>
            <p className="text-red">These automations use it; deleting it disables them:</p>
            <ul>
              {inUseBy.map((u) => (
                <li key={u.id}>
                  <strong>{u.name}</strong>
                </li>
              ))}
            </ul>
          </>
        ) : (
          <p>This cannot be undone. Tripline checks first whether any automation still uses it.</p>
        )}
      </ConfirmDialog>
    </section>
  );
}

function SecretSelect({
  label,
  value,
  onChange,
  secrets,
  error,
  help,
  optional,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  secrets: Secret[];
  error?: string;
  help?: string;
  optional?: boolean;
}) {
  return (
    <SelectField label={label} error={error} help={help} value={value} onChange={onChange}>
      <option value="">{optional ? 'None' : 'Choose a secret…'}</option>
      {secrets.map((s) => (
        <option key={s.name} value={s.name}>
          {s.name}
        </option>
      ))}
    </SelectField>
  );
}

function IntegrationDialog({
  team,
  kind,
  existing,
  onClose,
}: {
  team: string;
  kind: 'webhook' | 'slack';
  existing?: Integration;
  onClose: () => void;
}) {
  const qc = useQueryClient();
  const secrets = useSecrets(team);
  const [d, setD] = useState<IntegrationDraft>(() => draftOf(existing));
  const [local, setLocal] = useState<Record<string, string>>({});
  const set = (k: keyof IntegrationDraft, v: string) => setD((x) => ({ ...x, [k]: v }));
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      existing
        ? api<Integration>(`/teams/${enc(team)}/integrations/${enc(existing.id)}`, { method: 'PATCH', body })
        : api<Integration>(`/teams/${enc(team)}/integrations`, { method: 'POST', body }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: ['integrations', team] });
      qc.invalidateQueries({ queryKey: ['secrets', team] });
      onClose();
    },
  });
  const fields = [
    'name',
    'url',
    'accessTokenSecret',
    'secret',
    'channel',
    'botTokenSecret',
    'webhookUrlSecret',
  ];
  const apiErr = fieldErrors(save.error, fields);
  const e = (k: string) => local[k] ?? apiErr.byField[k];

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    const errs: Record<string, string> = {};
    if (!d.name.trim()) errs.name = 'Give the integration a name.';
    let body: Record<string, unknown>;
    if (kind === 'webhook') {
      try {
        const u = new URL(d.url.trim());
        if (u.protocol !== 'http:' && u.protocol !== 'https:') errs.url = 'Use an http:// or https:// URL.';
      } catch {
        errs.url = 'Enter a full URL, like https://example.com/hooks/tripline.';
      }
      body = {
        kind,
        name: d.name.trim(),
        url: d.url.trim(),
        accessTokenSecret: d.accessTokenSecret || null,
        secret: d.secret || null,
      };
    } else if (d.mode === 'bot') {
      if (!d.channel.trim()) errs.channel = 'Enter the channel, e.g. ml-alerts.';
      if (!d.botTokenSecret) errs.botTokenSecret = 'Choose the secret that holds the bot token (xoxb-…).';
      body = {
        kind,
        name: d.name.trim(),
        channel: d.channel.trim().replace(/^#/, ''),
        botTokenSecret: d.botTokenSecret,
      };
    } else {
      if (!d.webhookUrlSecret)
        errs.webhookUrlSecret = 'Choose the secret that holds the incoming-webhook URL.';
      body = { kind, name: d.name.trim(), webhookUrlSecret: d.webhookUrlSecret };
    }
    setLocal(errs);
    if (Object.keys(errs).length) return;
    if (existing) delete body.kind;
    save.mutate(body);
  };

  const s = secrets.data ?? [];
  const title = `${existing ? 'Edit' : 'Add'} ${kind === 'webhook' ? 'webhook' : 'Slack'} integration`;
  return (
    <Dialog open title={title} onClose={onClose}>
      <form onSubmit={submit} noValidate className="dialog-form">
        <Field label="Name" error={e('name')}>
          {(p) => <input {...p} value={d.name} onChange={(ev) => set('name', ev.target.value)} />}
        </Field>
        {kind === 'webhook' ? (
          <>
            <Field
              label="URL"
              error={e('url')}
              help="Tripline POSTs the JSON payload here. Private addresses are refused unless the server allows them."
            >
              {(p) => (
                <input
                  {...p}
                  type="url"
                  className="mono"
                  value={d.url}
                  onChange={(ev) => set('url', ev.target.value)}
                  placeholder="https://…"
                />
              )}
            </Field>
            <SecretSelect
              label="Access token secret"
              optional
              value={d.accessTokenSecret}
              onChange={(v) => set('accessTokenSecret', v)}
              secrets={s}
              error={e('accessTokenSecret')}
              help="Sent as Authorization: Bearer <token>."
            />
            <SecretSelect
              label="Signing secret"
              optional
              value={d.secret}
              onChange={(v) => set('secret', v)}
              secrets={s}
              error={e('secret')}
              help="Signs each request (X-Wandb-Signature and Standard Webhooks headers)."
            />
          </>
        ) : (
          <>
            <fieldset className="fieldset inner">
              <legend>Connect with</legend>
              <div className="radio-row">
                <label className="radio">
                  <input
                    type="radio"
                    name="slack-mode"
                    checked={d.mode === 'bot'}
                    onChange={() => set('mode', 'bot')}
                  />
                  A bot token and a channel
                </label>
                <label className="radio">
                  <input
                    type="radio"
                    name="slack-mode"
                    checked={d.mode === 'webhook'}
                    onChange={() => set('mode', 'webhook')}
                  />
                  An incoming-webhook URL
                </label>
              </div>
            </fieldset>
            {d.mode === 'bot' ? (
              <>
                <Field label="Channel" error={e('channel')}>
                  {(p) => (
                    <input
                      {...p}
                      value={d.channel}
                      onChange={(ev) => set('channel', ev.target.value)}
                      placeholder="ml-alerts"
                    />
                  )}
                </Field>
                <SecretSelect
                  label="Bot token secret"
                  value={d.botTokenSecret}
                  onChange={(v) => set('botTokenSecret', v)}
                  secrets={s}
                  error={e('botTokenSecret')}
                />
              </>
            ) : (
              <SecretSelect
                label="Webhook URL secret"
                value={d.webhookUrlSecret}
                onChange={(v) => set('webhookUrlSecret', v)}
                secrets={s}
                error={e('webhookUrlSecret')}
              />
            )}
          </>
        )}
        {s.length === 0 && !secrets.isPending && (
          <p className="help">No secrets yet — add them in the Secrets section first.</p>
        )}
        {apiErr.general && (
          <div className="field-error" role="alert">
            {apiErr.general}
          </div>
        )}
        <div className="dialog-footer">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : existing ? 'Save changes' : 'Add integration'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function TestDialog({
  team,
  integration,
  onClose,
}: {
  team: string;
  integration: Integration;
  onClose: () => void;
}) {
  const qc = useQueryClient();
  const [text, setText] = useState(
    JSON.stringify({ text: `Test from Tripline to ${integration.name}`, event_type: 'TEST' }, null, 2),
  );
  const [parseErr, setParseErr] = useState<string | null>(null);
  const test = useMutation({
    mutationFn: (payload: unknown) =>
      api<TestResult>(`/teams/${enc(team)}/integrations/${enc(integration.id)}/test`, {
        method: 'POST',
        body: { payload },
      }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['integrations', team] }),
  });
  const run = (ev: FormEvent) => {
    ev.preventDefault();
    try {
      const payload = JSON.parse(text);
      setParseErr(null);
      test.mutate(payload);
    } catch (err) {
      setParseErr(`Not valid JSON: ${(err as Error).message}`);
    }
  };
  const r = test.data;
  return (
    <Dialog open title={`Test ${integration.name}`} onClose={onClose}>
      <form onSubmit={run} noValidate className="dialog-form">
        <Field
          label="Test payload (JSON)"
          error={parseErr}
          help="Sent once, as is, with the integration's headers and signature."
        >
          {(p) => (
            <textarea
              {...p}
              className="mono code-input"
              rows={6}
              spellCheck={false}
              value={text}
              onChange={(e) => setText(e.target.value)}
            />
          )}
        </Field>
        <div className="test-result" aria-live="polite">
          {test.isPending && <span className="muted">Sending…</span>}
          {test.error && <ErrorBox error={test.error} />}
          {r && (
            <div className={r.ok ? 'result ok' : 'result fail'} data-testid="test-result">
              <div className="strong">
                {r.ok ? 'Delivered' : 'Failed'}
                {r.status !== undefined && <> — HTTP {r.status}</>}
              </div>
              {r.error && <p className="text-red">{r.error}</p>}
              {r.body !== undefined && r.body !== '' && (
                <>
                  <div className="small muted">Response body</div>
                  <JsonBlock value={r.body} label="Test response body" />
                </>
              )}
            </div>
          )}
        </div>
        <div className="dialog-footer">
          <button type="button" className="btn" onClick={onClose}>
            Close
          </button>
          <button type="submit" className="btn btn-primary" disabled={test.isPending}>
            {test.isPending ? 'Sending…' : 'Send test'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
