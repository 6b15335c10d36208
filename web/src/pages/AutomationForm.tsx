import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  ApiError,
  type Automation,
  type AutomationInput,
  api,
  type Collection,
  type EventType,
  enc,
  fetchAll,
  type Preview,
  qs,
  type Scope,
  type TemplateVariable,
} from '../api.js';
import {
  buildAction,
  buildFilter,
  buildScope,
  CMP_OPS,
  defaultForm,
  EVENT_LABELS,
  eventsForScope,
  type FormState,
  formFromAutomation,
  isMetricEvent,
  isRunEvent,
} from '../events.js';
import { type Place, placeBase, placeCrumbs, placeOfScope, placeScope, samePlace } from '../place.js';
import { Link, navigate, useLocation } from '../router.js';
import {
  Breadcrumbs,
  ErrorBox,
  errorMessage,
  Field,
  JsonBlock,
  NumberField,
  PageHeader,
  SelectField,
  Spinner,
  TextAreaField,
} from '../ui.js';
import { automationsKey, useIntegrations } from './Automations.js';

type Errors = Record<string, string>;

/** The API paths each control stands for, so an error naming a field lands next to that control. */
function knownPaths(s: FormState): string[] {
  const p = ['scope', 'scope.collection', 'event', 'event.type', 'event.filter'];
  if (isRunEvent(s.eventType)) p.push('event.filter.run_filter', 'event.filter.run_filter.username');
  if (s.eventType === 'RUN_STATE') p.push('event.filter.run_state_filter');
  const f =
    s.eventType === 'RUN_METRIC'
      ? 'threshold_filter'
      : s.eventType === 'RUN_METRIC_CHANGE'
        ? 'change_filter'
        : s.eventType === 'RUN_METRIC_ZSCORE'
          ? 'zscore_filter'
          : null;
  if (f) {
    p.push(`event.filter.${f}`);
    for (const k of [
      'name',
      'agg_op',
      'window_size',
      'cmp_op',
      'threshold',
      'current_window_size',
      'prior_window_size',
      'change_type',
      'change_dir',
      'change_amount',
    ])
      p.push(`event.filter.${f}.${k}`);
  }
  p.push(
    'action',
    'action.type',
    'action.integrationId',
    'action.title',
    'action.message',
    'action.severity',
  );
  p.push('action.payload', 'name', 'description', 'rateLimitPerHour', 'cooldownSeconds');
  return p;
}

/** The end of the error path each form field answers for. */
const ERROR_PATH_OF: Partial<Record<keyof FormState, string>> = {
  collection: 'scope.collection',
  pattern: 'event.filter',
  runName: 'run_filter',
  user: 'run_filter.username',
  states: 'run_state_filter',
  metric: '.name',
  agg: 'agg_op',
  window: 'threshold_filter.window_size',
  cmp: 'cmp_op',
  threshold: 'threshold_filter.threshold',
  currentWindow: 'current_window_size',
  priorWindow: 'prior_window_size',
  changeType: 'change_type',
  changeDir: 'change_filter.change_dir',
  changeAmount: 'change_amount',
  zWindow: 'zscore_filter.window_size',
  zThreshold: 'zscore_filter.threshold',
  zDir: 'zscore_filter.change_dir',
  integrationId: 'action.integrationId',
  title: 'action.title',
  message: 'action.message',
  severity: 'action.severity',
  payloadText: 'action.payload',
  name: 'name',
  description: 'description',
  rateLimit: 'rateLimitPerHour',
  cooldown: 'cooldownSeconds',
};

/** The known path an API field belongs to: the longest one that is a prefix of it. */
function claimPath(field: string, paths: string[]): string | null {
  let best: string | null = null;
  for (const p of paths)
    if (
      (field === p || field.startsWith(`${p}.`) || field.startsWith(`${p}[`)) &&
      (!best || p.length > best.length)
    )
      best = p;
  return best;
}

function stepOf(field: string): 1 | 2 | 3 {
  if (field.startsWith('scope') || field.startsWith('event')) return 1;
  if (field.startsWith('action')) return 2;
  return 3;
}

function parsePayload(text: string): { value?: unknown; error?: string } {
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return { error: `The payload must be a JSON object, like {"text": "\${run_name} failed"}.` };
    return { value };
  } catch (e) {
    return {
      error: `The payload is not valid JSON: ${(e as Error).message}. Variables go inside strings, e.g. "\${metric_value}".`,
    };
  }
}

function validate(step: 1 | 2 | 3, s: FormState): Errors {
  const e: Errors = {};
  const isNum = (v: string) => v.trim() !== '' && Number.isFinite(Number(v));
  const isPosInt = (v: string) => /^\d+$/.test(v.trim()) && Number(v) > 0;
  if (step === 1) {
    if (s.scopeLevel === 'collection' && !s.collection.trim())
      e['scope.collection'] = 'Choose the collection to watch.';
    if (s.eventType === 'RUN_STATE' && s.states.length === 0)
      e['event.filter.run_state_filter'] = 'Pick at least one state.';
    for (const [re, path] of [
      [s.pattern, 'event.filter'],
      [s.runName, 'event.filter.run_filter'],
    ] as const) {
      if (!re.trim() || (path === 'event.filter' && isRunEvent(s.eventType))) continue;
      try {
        new RegExp(re);
      } catch {
        e[path] = 'This is not a valid regular expression.';
      }
    }
    const f =
      s.eventType === 'RUN_METRIC'
        ? 'threshold_filter'
        : s.eventType === 'RUN_METRIC_CHANGE'
          ? 'change_filter'
          : 'zscore_filter';
    if (isMetricEvent(s.eventType) && !s.metric.trim())
      e[`event.filter.${f}.name`] = 'Enter the metric to watch.';
    if (s.eventType === 'RUN_METRIC') {
      if (!isPosInt(s.window))
        e['event.filter.threshold_filter.window_size'] = 'A whole number of values, 1 or more.';
      if (!isNum(s.threshold)) e['event.filter.threshold_filter.threshold'] = 'Enter a number.';
    }
    if (s.eventType === 'RUN_METRIC_CHANGE') {
      if (!isPosInt(s.currentWindow))
        e['event.filter.change_filter.current_window_size'] = 'A whole number, 1 or more.';
      if (!isPosInt(s.priorWindow))
        e['event.filter.change_filter.prior_window_size'] = 'A whole number, 1 or more.';
      if (!isNum(s.changeAmount) || Number(s.changeAmount) < 0)
        e['event.filter.change_filter.change_amount'] = 'Enter an amount of 0 or more.';
    }
    if (s.eventType === 'RUN_METRIC_ZSCORE') {
      if (!isPosInt(s.zWindow) || Number(s.zWindow) < 2)
        e['event.filter.zscore_filter.window_size'] = 'At least 2 runs are needed for a z-score.';
      if (!isNum(s.zThreshold) || Number(s.zThreshold) <= 0)
        e['event.filter.zscore_filter.threshold'] = 'Enter a number above 0, e.g. 2.';
    }
  }
  if (step === 2) {
    if (s.actionType !== 'NO_OP' && !s.integrationId)
      e['action.integrationId'] =
        `Choose a ${s.actionType === 'NOTIFICATION' ? 'Slack' : 'webhook'} integration.`;
    if (s.actionType === 'GENERIC_WEBHOOK') {
      const p = parsePayload(s.payloadText);
      if (p.error) e['action.payload'] = p.error;
    }
  }
  if (step === 3) {
    if (!s.name.trim()) e.name = 'Give the automation a name.';
    if (!/^\d+$/.test(s.rateLimit.trim())) e.rateLimitPerHour = 'A whole number of firings, 0 or more.';
    if (!/^\d+$/.test(s.cooldown.trim())) e.cooldownSeconds = 'A whole number of seconds, 0 or more.';
  }
  return e;
}

export function AutomationFormPage({ place, id }: { place: Place; id?: string }) {
  const existing = useQuery({
    queryKey: ['automation', id],
    queryFn: () => api<Automation>(`/automations/${enc(id!)}`),
    enabled: !!id,
  });
  const base = placeBase(place);
  // An automation is edited from its own place: a link from the team-wide history may name a
  // project's automation under the team, and saving it there would move it to the team scope.
  const home = existing.data ? placeOfScope(existing.data.scope) : place;
  const misplaced = !samePlace(home, place);
  useEffect(() => {
    if (misplaced && id) navigate(`${placeBase(home)}/automations/${enc(id)}`, { replace: true });
  }, [misplaced, home, id]);
  const crumbs = [
    ...placeCrumbs(place),
    { label: 'Automations', to: `${base}/automations` },
    { label: id ? (existing.data?.name ?? 'Edit') : 'New automation' },
  ];
  return (
    <>
      <Breadcrumbs items={crumbs} />
      {(id && existing.isPending) || misplaced ? (
        <Spinner label="Loading automation…" />
      ) : id && existing.error ? (
        <ErrorBox error={existing.error} retry={() => existing.refetch()} />
      ) : (
        <AutomationForm key={id ?? 'new'} place={place} existing={existing.data} />
      )}
    </>
  );
}

function AutomationForm({ place, existing }: { place: Place; existing?: Automation }) {
  const qc = useQueryClient();
  const { search } = useLocation();
  const baseScope = placeScope(place);
  const [state, setState] = useState<FormState>(() => {
    if (existing) return formFromAutomation(existing);
    const allowed = eventsForScope(baseScope);
    const asked = search.get('event') as EventType | null;
    const collection = place.kind === 'team' ? null : search.get('collection');
    const inScope = collection
      ? eventsForScope({ ...baseScope, type: 'ARTIFACT_COLLECTION', collection })
      : allowed;
    const eventType =
      asked && inScope.includes(asked)
        ? asked
        : collection
          ? inScope[0]
          : place.kind === 'registry'
            ? 'LINK_ARTIFACT'
            : 'RUN_STATE';
    const s = defaultForm(eventType);
    if (collection) {
      s.scopeLevel = 'collection';
      s.collection = collection;
    }
    const metric = search.get('metric');
    if (metric) {
      s.metric = metric;
      s.name = `${metric} alert`;
    }
    return s;
  });
  const [step, setStep] = useState<1 | 2 | 3>(1);
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const set = useCallback(<K extends keyof FormState>(k: K, v: FormState[K]) => {
    setState((s) => ({ ...s, [k]: v }));
    // Editing a control clears the error shown next to it.
    const suffix = ERROR_PATH_OF[k];
    if (suffix)
      setErrors((e) => {
        const left = Object.fromEntries(Object.entries(e).filter(([p]) => !p.endsWith(suffix)));
        return Object.keys(left).length === Object.keys(e).length ? e : left;
      });
  }, []);

  const scope = buildScope(baseScope, state);
  const allowed = eventsForScope(scope);
  const paths = useMemo(() => knownPaths(state), [state]);
  const err = (p: string) => errors[p] ?? null;

  const save = useMutation({
    mutationFn: (body: AutomationInput) =>
      existing
        ? api<Automation>(`/automations/${enc(existing.id)}`, { method: 'PATCH', body })
        : api<Automation>('/automations', { method: 'POST', body }),
    onSuccess: () => {
      // The team's lists (its own and every place's) all start with this key.
      qc.invalidateQueries({ queryKey: automationsKey(place).slice(0, 2) });
      if (existing) qc.invalidateQueries({ queryKey: ['automation', existing.id] });
      navigate(`${placeBase(place)}/automations`);
    },
    onError: (e) => {
      if (e instanceof ApiError && e.field) {
        const claimed = claimPath(e.field, paths);
        setStep(stepOf(e.field));
        if (claimed) {
          setErrors({ [claimed]: e.message });
          setGeneral(null);
          return;
        }
      }
      setErrors({});
      setGeneral(errorMessage(e));
    },
  });

  const goTo = (target: 1 | 2 | 3) => {
    // Moving forward checks every step in between; moving back never blocks.
    for (let s = 1 as 1 | 2 | 3; s < target; s = (s + 1) as 1 | 2 | 3) {
      const e = validate(s, state);
      if (Object.keys(e).length) {
        setErrors(e);
        setStep(s);
        return;
      }
    }
    setErrors({});
    setGeneral(null);
    setStep(target);
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (step < 3) return goTo((step + 1) as 2 | 3);
    const v = validate(3, state);
    if (Object.keys(v).length) return setErrors(v);
    for (const s of [1, 2] as const) {
      const ve = validate(s, state);
      if (Object.keys(ve).length) {
        setErrors(ve);
        setStep(s);
        return;
      }
    }
    const payload =
      state.actionType === 'GENERIC_WEBHOOK' ? parsePayload(state.payloadText).value : undefined;
    save.mutate({
      name: state.name.trim(),
      description: state.description.trim() || undefined,
      enabled: state.enabled,
      scope,
      event: { type: state.eventType, filter: buildFilter(state) },
      action: buildAction(state, payload),
      rateLimitPerHour: Number(state.rateLimit),
      cooldownSeconds: Number(state.cooldown),
    });
  };

  const steps = ['Event', 'Action', 'Name'];
  return (
    <form className="wizard" onSubmit={submit} noValidate aria-labelledby="form-title">
      <PageHeader
        title={<span id="form-title">{existing ? `Edit ${existing.name}` : 'New automation'}</span>}
      />
      <ol className="stepper">
        {steps.map((label, i) => {
          const n = (i + 1) as 1 | 2 | 3;
          return (
            <li key={label} className={n === step ? 'current' : n < step ? 'done' : ''}>
              <button type="button" onClick={() => goTo(n)} aria-current={n === step ? 'step' : undefined}>
                <span className="step-n">{n}</span> {label}
              </button>
            </li>
          );
        })}
      </ol>
      {general && (
        <div className="error-box" role="alert">
          <strong>Could not save</strong>
          <p>{general}</p>
        </div>
      )}
      <div className="wizard-body">
        {step === 1 && <EventStep place={place} state={state} set={set} err={err} allowed={allowed} />}
        {step === 2 && <ActionStep place={place} scope={scope} state={state} set={set} err={err} />}
        {step === 3 && <NameStep state={state} set={set} err={err} />}
      </div>
      <div className="wizard-footer">
        <Link className="btn btn-ghost" to={`${placeBase(place)}/automations`}>
          Cancel
        </Link>
        <div className="spacer" />
        {step > 1 && (
          <button type="button" className="btn" onClick={() => goTo((step - 1) as 1 | 2)}>
            Back
          </button>
        )}
        {step < 3 ? (
          <button type="submit" className="btn btn-primary">
            Next: {steps[step]}
          </button>
        ) : (
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : existing ? 'Save changes' : 'Create automation'}
          </button>
        )}
      </div>
    </form>
  );
}

type StepProps = {
  state: FormState;
  set: <K extends keyof FormState>(k: K, v: FormState[K]) => void;
  err: (path: string) => string | null;
};

/** The form fields that hold free text, which any input can set. */
type TextKey = { [K in keyof FormState]: string extends FormState[K] ? K : never }[keyof FormState];

/** Binds a field component to one text field of the form: its value and its change handler. */
function binder(state: FormState, set: StepProps['set']) {
  return (k: TextKey) => ({ value: state[k], onChange: (v: string) => set(k, v) });
}

const AGG_OPTIONS = (
  <>
    <option value="AVERAGE">Average</option>
    <option value="MIN">Minimum</option>
    <option value="MAX">Maximum</option>
  </>
);

function Fieldset({ legend, children, hint }: { legend: string; children: ReactNode; hint?: ReactNode }) {
  return (
    <fieldset className="fieldset">
      <legend>{legend}</legend>
      {hint && <p className="help">{hint}</p>}
      {children}
    </fieldset>
  );
}

function EventStep({ place, state, set, err, allowed }: StepProps & { place: Place; allowed: EventType[] }) {
  const bind = binder(state, set);
  const collections = useQuery({
    queryKey: ['collection-names', place.team, place.kind, place.name],
    queryFn: () =>
      fetchAll<Collection>(
        place.kind === 'project'
          ? `/teams/${enc(place.team)}/projects/${enc(place.name)}/artifacts`
          : `/teams/${enc(place.team)}/registries/${enc(place.name)}/collections`,
      ),
    enabled: state.scopeLevel === 'collection' && place.kind !== 'team',
  });
  const metrics = useQuery({
    queryKey: ['metric-names', place.team, place.name],
    queryFn: () => api<{ names: string[] }>(`/teams/${enc(place.team)}/projects/${enc(place.name)}/metrics`),
    enabled: place.kind === 'project' && isMetricEvent(state.eventType),
  });

  // Switching scope can rule out the chosen event; fall back to the first allowed one.
  useEffect(() => {
    if (!allowed.includes(state.eventType)) set('eventType', allowed[0]);
  }, [allowed, state.eventType, set]);

  const t = state.eventType;
  const filterKey =
    t === 'RUN_METRIC' ? 'threshold_filter' : t === 'RUN_METRIC_CHANGE' ? 'change_filter' : 'zscore_filter';
  const fp = (k: string) => `event.filter.${filterKey}.${k}`;
  const placeWord = place.kind === 'project' ? 'project' : 'registry';

  return (
    <>
      <Fieldset legend="Where to watch">
        {place.kind === 'team' ? (
          <p>
            Every project and registry of team <span className="mono">{place.team}</span>, including those
            created later.{' '}
            <span className="muted">
              To watch one project, registry or collection, create the automation there instead.
            </span>
          </p>
        ) : (
          <div className="radio-row">
            <label className="radio">
              <input
                type="radio"
                name="scopeLevel"
                checked={state.scopeLevel === 'place'}
                onChange={() => set('scopeLevel', 'place')}
              />
              The whole {placeWord} <span className="mono">{place.name}</span>
            </label>
            <label className="radio">
              <input
                type="radio"
                name="scopeLevel"
                checked={state.scopeLevel === 'collection'}
                onChange={() => set('scopeLevel', 'collection')}
              />
              One collection in it
            </label>
          </div>
        )}
        {state.scopeLevel === 'collection' && place.kind !== 'team' && (
          <Field
            label="Collection"
            error={err('scope.collection')}
            help="Also covers versions added to it later."
          >
            {(p) => (
              <>
                <input
                  {...p}
                  list="collection-names"
                  value={state.collection}
                  onChange={(e) => set('collection', e.target.value)}
                />
                <datalist id="collection-names">
                  {collections.data?.map((c) => (
                    <option key={c.collection} value={c.collection} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
        )}
      </Fieldset>

      <Fieldset legend="Event" hint={`Only the events that this scope supports are listed.`}>
        <div className="event-list" role="radiogroup" aria-label="Event type">
          {allowed.map((e) => (
            <label key={e} className={`event-option${e === t ? ' selected' : ''}`}>
              <input
                type="radio"
                name="eventType"
                value={e}
                checked={e === t}
                onChange={() => set('eventType', e)}
              />
              <span>
                {EVENT_LABELS[e]}
                <span className="mono small muted block">{e}</span>
              </span>
            </label>
          ))}
        </div>
        {err('event.type') && (
          <div className="field-error" role="alert">
            {err('event.type')}
          </div>
        )}
      </Fieldset>

      <Fieldset legend="Conditions">
        {!isRunEvent(t) && (t === 'ADD_ARTIFACT_ALIAS' || t.includes('TAG')) && (
          <Field
            label={t === 'ADD_ARTIFACT_ALIAS' ? 'Alias (regular expression)' : 'Tag (regular expression)'}
            error={err('event.filter')}
            help={`Leave empty for any ${t === 'ADD_ARTIFACT_ALIAS' ? 'alias' : 'tag'}. Example: ^prod`}
          >
            {(p) => (
              <input
                {...p}
                className="mono"
                value={state.pattern}
                onChange={(e) => set('pattern', e.target.value)}
              />
            )}
          </Field>
        )}
        {!isRunEvent(t) && !(t === 'ADD_ARTIFACT_ALIAS' || t.includes('TAG')) && (
          <p className="muted">
            This event has no extra conditions: it fires for every version in the scope.
            {err('event.filter') && <span className="field-error"> {err('event.filter')}</span>}
          </p>
        )}
        {isRunEvent(t) && (
          <div className="grid-2">
            <Field
              label="Run name (regular expression)"
              error={err('event.filter.run_filter')}
              help="Empty means every run."
            >
              {(p) => (
                <input
                  {...p}
                  className="mono"
                  value={state.runName}
                  onChange={(e) => set('runName', e.target.value)}
                />
              )}
            </Field>
            <Field
              label="Only runs by user"
              error={err('event.filter.run_filter.username')}
              help="Empty means anyone."
            >
              {(p) => (
                <input
                  {...p}
                  value={state.user}
                  onChange={(e) => set('user', e.target.value)}
                  autoComplete="off"
                />
              )}
            </Field>
          </div>
        )}
        {t === 'RUN_STATE' && (
          <fieldset className="fieldset inner" aria-describedby="states-help">
            <legend>New state is one of</legend>
            <div className="radio-row">
              {['FAILED', 'FINISHED', 'RUNNING'].map((st) => (
                <label key={st} className="radio">
                  <input
                    type="checkbox"
                    checked={state.states.includes(st)}
                    onChange={(e) =>
                      set(
                        'states',
                        e.target.checked ? [...state.states, st] : state.states.filter((x) => x !== st),
                      )
                    }
                  />
                  {st}
                </label>
              ))}
            </div>
            <p className="help" id="states-help">
              CRASHED counts as FAILED. KILLED runs never trigger automations.
            </p>
            {err('event.filter.run_state_filter') && (
              <div className="field-error" role="alert">
                {err('event.filter.run_state_filter')}
              </div>
            )}
          </fieldset>
        )}
        {isMetricEvent(t) && (
          <>
            <Field
              label="Metric name"
              error={err(fp('name'))}
              help={
                metrics.data?.names.length
                  ? 'Suggestions come from metrics logged in this project; system metrics start with system/.'
                  : 'The key logged in history, e.g. loss or system/cpu.'
              }
            >
              {(p) => (
                <>
                  <input
                    {...p}
                    className="mono"
                    list="metric-names"
                    value={state.metric}
                    onChange={(e) => set('metric', e.target.value)}
                    autoComplete="off"
                  />
                  <datalist id="metric-names">
                    {metrics.data?.names.map((n) => (
                      <option key={n} value={n} />
                    ))}
                  </datalist>
                </>
              )}
            </Field>
            {t === 'RUN_METRIC' && (
              <div className="grid-4">
                <SelectField label="Aggregation" error={err(fp('agg_op'))} {...bind('agg')}>
                  {AGG_OPTIONS}
                </SelectField>
                <NumberField
                  label="Of the last N values"
                  error={err(fp('window_size'))}
                  min={1}
                  step={1}
                  {...bind('window')}
                />
                <SelectField label="Is" error={err(fp('cmp_op'))} {...bind('cmp')}>
                  {CMP_OPS.map((c) => (
                    <option key={c.op} value={c.op}>
                      {c.label} ({c.symbol})
                    </option>
                  ))}
                </SelectField>
                <NumberField
                  label="Threshold"
                  error={err(fp('threshold'))}
                  step="any"
                  {...bind('threshold')}
                />
              </div>
            )}
            {t === 'RUN_METRIC_CHANGE' && (
              <>
                <div className="grid-4">
                  <SelectField label="Aggregation" error={err(fp('agg_op'))} {...bind('agg')}>
                    {AGG_OPTIONS}
                  </SelectField>
                  <NumberField
                    label="Current window (values)"
                    error={err(fp('current_window_size'))}
                    min={1}
                    {...bind('currentWindow')}
                  />
                  <NumberField
                    label="Prior window (values)"
                    error={err(fp('prior_window_size'))}
                    min={1}
                    {...bind('priorWindow')}
                  />
                  <SelectField label="Direction" error={err(fp('change_dir'))} {...bind('changeDir')}>
                    <option value="ANY">Either way</option>
                    <option value="INCREASE">Increase</option>
                    <option value="DECREASE">Decrease</option>
                  </SelectField>
                </div>
                <div className="grid-4">
                  <SelectField
                    label="Change measured as"
                    error={err(fp('change_type'))}
                    {...bind('changeType')}
                  >
                    <option value="ABSOLUTE">Absolute</option>
                    <option value="RELATIVE">Relative (fraction)</option>
                  </SelectField>
                  <NumberField
                    label="By at least"
                    error={err(fp('change_amount'))}
                    help={state.changeType === 'RELATIVE' ? 'A fraction: 0.1 means 10 %.' : undefined}
                    step="any"
                    min={0}
                    {...bind('changeAmount')}
                  />
                </div>
                <p className="help">
                  The two windows are consecutive and do not overlap: the prior window ends where the current
                  one starts.
                </p>
              </>
            )}
            {t === 'RUN_METRIC_ZSCORE' && (
              <div className="grid-4">
                <NumberField
                  label="Compare with the last N runs"
                  error={err(fp('window_size'))}
                  min={2}
                  {...bind('zWindow')}
                />
                <NumberField
                  label="Z-score threshold"
                  error={err(fp('threshold'))}
                  step="any"
                  min={0}
                  {...bind('zThreshold')}
                />
                <SelectField label="Direction" error={err(fp('change_dir'))} {...bind('zDir')}>
                  <option value="ANY">Either way (|z| ≥ t)</option>
                  <option value="INCREASE">Higher (z ≥ t)</option>
                  <option value="DECREASE">Lower (z ≤ −t)</option>
                </SelectField>
              </div>
            )}
            <p className="help">A run-metric automation fires at most once per run every 24 hours.</p>
          </>
        )}
      </Fieldset>
    </>
  );
}

function ActionStep({ place, scope, state, set, err }: StepProps & { place: Place; scope: Scope }) {
  const bind = binder(state, set);
  const integrations = useIntegrations(place.team);
  const kind = state.actionType === 'NOTIFICATION' ? 'slack' : 'webhook';
  const options = (integrations.data ?? []).filter((i) => i.kind === kind);

  // Preselect the only integration of the right kind.
  useEffect(() => {
    if (state.actionType !== 'NO_OP' && !state.integrationId && options.length === 1)
      set('integrationId', options[0].id);
  }, [state.actionType, state.integrationId, options, set]);

  return (
    <>
      <Fieldset legend="Action">
        <div className="radio-row">
          {(
            [
              ['GENERIC_WEBHOOK', 'Webhook', 'POST a JSON payload to a URL'],
              ['NOTIFICATION', 'Slack notification', 'Post to a channel'],
              ['NO_OP', 'No-op', 'Only record an execution (to test conditions)'],
            ] as const
          ).map(([value, label, hint]) => (
            <label key={value} className={`event-option${state.actionType === value ? ' selected' : ''}`}>
              <input
                type="radio"
                name="actionType"
                checked={state.actionType === value}
                onChange={() => {
                  set('actionType', value);
                  set('integrationId', '');
                }}
              />
              <span>
                {label}
                <span className="small muted block">{hint}</span>
              </span>
            </label>
          ))}
        </div>
      </Fieldset>

      {state.actionType !== 'NO_OP' && (
        <Fieldset legend={state.actionType === 'NOTIFICATION' ? 'Slack' : 'Webhook'}>
          {integrations.isPending ? (
            <Spinner label="Loading integrations…" />
          ) : integrations.error ? (
            <ErrorBox error={integrations.error} retry={() => integrations.refetch()} />
          ) : options.length === 0 ? (
            <div className="notice">
              There is no {kind === 'slack' ? 'Slack' : 'webhook'} integration in team{' '}
              <strong>{place.team}</strong> yet.{' '}
              <Link to={`/teams/${enc(place.team)}/settings`}>Add one in team settings</Link>, then come back.
              {err('action.integrationId') && (
                <div className="field-error">{err('action.integrationId')}</div>
              )}
            </div>
          ) : (
            <SelectField label="Integration" error={err('action.integrationId')} {...bind('integrationId')}>
              <option value="">Choose…</option>
              {options.map((i) => (
                <option key={i.id} value={i.id}>
                  {i.name}
                  {i.kind === 'webhook' ? ` — ${i.url}` : i.channel ? ` — #${i.channel}` : ''}
                </option>
              ))}
            </SelectField>
          )}
          {state.actionType === 'NOTIFICATION' && (
            <>
              <div className="grid-2">
                <Field
                  label="Title"
                  error={err('action.title')}
                  help="Optional. Defaults to the automation's name."
                >
                  {(p) => <input {...p} value={state.title} onChange={(e) => set('title', e.target.value)} />}
                </Field>
                <SelectField label="Severity" error={err('action.severity')} {...bind('severity')}>
                  <option value="INFO">Info</option>
                  <option value="WARN">Warning</option>
                  <option value="ERROR">Error</option>
                </SelectField>
              </div>
              <TextAreaField
                label="Message"
                error={err('action.message')}
                help="Optional text added to the notification; it always summarises the event and links to it."
                {...bind('message')}
              />
            </>
          )}
          {state.actionType === 'GENERIC_WEBHOOK' && (
            <PayloadEditor scope={scope} state={state} set={set} err={err} />
          )}
        </Fieldset>
      )}
    </>
  );
}

function PayloadEditor({ scope, state, set, err }: StepProps & { scope: Scope }) {
  const area = useRef<HTMLTextAreaElement>(null);
  const variables = useQuery({
    // With the integration named, the list includes the secrets that integration may use.
    queryKey: ['template-variables', scope.team, state.integrationId],
    queryFn: () =>
      api<{ variables: TemplateVariable[] }>(
        `/template-variables${qs({ team: scope.team, integrationId: state.integrationId })}`,
      ),
    staleTime: 60_000,
    placeholderData: (prev) => prev,
  });
  const parsed = parsePayload(state.payloadText);
  const localError = parsed.error ?? null;

  // Live preview, debounced: the server renders the template on a recent real event (or a sample).
  const [preview, setPreview] = useState<{ data?: Preview; error?: ApiError | Error; loading: boolean }>({
    loading: false,
  });
  const request = JSON.stringify({
    scope,
    event: { type: state.eventType, filter: buildFilter(state) },
    action: buildAction(state, parsed.value),
  });
  useEffect(() => {
    if (localError) return;
    const ctl = new AbortController();
    setPreview((p) => ({ ...p, loading: true }));
    const t = setTimeout(() => {
      api<Preview>('/automations/preview', { method: 'POST', body: JSON.parse(request), signal: ctl.signal })
        .then((data) => setPreview({ data, loading: false }))
        .catch((error) => {
          if ((error as Error).name !== 'AbortError') setPreview({ error, loading: false });
        });
    }, 350);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [request, localError]);

  const previewErr = preview.error instanceof ApiError ? preview.error : null;
  const payloadErr =
    err('action.payload') ??
    localError ??
    (previewErr?.field?.startsWith('action.payload') ? previewErr.message : null);

  const insert = (name: string) => {
    const el = area.current;
    const token = `\${${name}}`;
    const text = state.payloadText;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    set('payloadText', text.slice(0, start) + token + text.slice(end));
    requestAnimationFrame(() => {
      if (!el) return;
      el.focus();
      el.setSelectionRange(start + token.length, start + token.length);
    });
  };

  return (
    <div className="payload-grid">
      <div>
        <Field
          label="Payload template (JSON)"
          error={payloadErr}
          help="Sent as the request body. Put variables inside strings; unknown variables are refused when you save."
        >
          {(p) => (
            <textarea
              {...p}
              ref={area}
              className="mono code-input"
              rows={12}
              spellCheck={false}
              value={state.payloadText}
              onChange={(e) => set('payloadText', e.target.value)}
            />
          )}
        </Field>
        <div className="variables">
          <div className="small strong" id="vars-h">
            Variables — click to insert at the cursor
          </div>
          {variables.isPending ? (
            <Spinner label="Loading variables…" />
          ) : variables.error ? (
            <ErrorBox error={variables.error} />
          ) : (
            <ul aria-labelledby="vars-h">
              {variables.data?.variables.map((v) => (
                <li key={v.name}>
                  <button type="button" className="var" onClick={() => insert(v.name)} title={v.description}>
                    {`\${${v.name}}`}
                  </button>
                  <span className="small muted">{v.description}</span>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <div className="preview" aria-live="polite">
        <div className="small strong">
          Preview{' '}
          {preview.data && (
            <span className="muted">
              {preview.data.sample
                ? '(sample event — nothing has happened here yet)'
                : '(a recent real event)'}
            </span>
          )}
        </div>
        {localError ? (
          <p className="muted">Fix the payload to see a preview.</p>
        ) : preview.loading && !preview.data ? (
          <Spinner label="Rendering…" />
        ) : preview.error && !previewErr?.field?.startsWith('action.payload') ? (
          <p className="muted">No preview: {errorMessage(preview.error)}</p>
        ) : preview.data && !previewErr ? (
          <JsonBlock value={preview.data.payload} label="Rendered payload preview" />
        ) : (
          <p className="muted">Fix the payload to see a preview.</p>
        )}
        <p className="help">Secrets such as ${'{ACCESS_TOKEN}'} are masked here and in the history.</p>
      </div>
    </div>
  );
}

function NameStep({ state, set, err }: StepProps) {
  const bind = binder(state, set);
  return (
    <Fieldset legend="Name and description">
      <Field label="Name" error={err('name')} help="Shown in the list, in notifications and in the history.">
        {(p) => <input {...p} value={state.name} onChange={(e) => set('name', e.target.value)} />}
      </Field>
      <TextAreaField
        label="Description"
        error={err('description')}
        help="Optional: why this automation exists."
        {...bind('description')}
      />
      <label className="radio">
        <input type="checkbox" checked={state.enabled} onChange={(e) => set('enabled', e.target.checked)} />
        Enabled — start watching for events as soon as it is saved
      </label>
      <fieldset className="fieldset inner">
        <legend>Noise control</legend>
        <div className="grid-4">
          <NumberField
            label="At most, per hour"
            error={err('rateLimitPerHour')}
            help="Firings beyond this are counted as suppressed, not sent."
            min={0}
            {...bind('rateLimit')}
          />
          <NumberField
            label="Cooldown (seconds)"
            error={err('cooldownSeconds')}
            help="Quiet time after each firing; 0 for none."
            min={0}
            {...bind('cooldown')}
          />
        </div>
      </fieldset>
    </Fieldset>
  );
}
