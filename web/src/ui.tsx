/** Shared building blocks: badges, states (loading, error, empty), tabs, breadcrumbs, dialogs, fields. */
import { type ReactNode, useEffect, useId, useRef } from 'react';
import { ApiError } from './api.js';
import { Link } from './router.js';

export function StateBadge({ state }: { state: string }) {
  const tone =
    state === 'FINISHED' || state === 'ok'
      ? 'green'
      : state === 'FAILED' || state === 'CRASHED' || state === 'failing'
        ? 'red'
        : state === 'PENDING' || state === 'paused'
          ? 'amber'
          : state === 'RUNNING'
            ? 'blue'
            : 'grey';
  return <span className={`badge badge-${tone}`}>{state}</span>;
}

export function Chip({ children, tone }: { children: ReactNode; tone?: 'accent' }) {
  return <span className={tone ? `chip chip-${tone}` : 'chip'}>{children}</span>;
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const status = error instanceof ApiError ? error.status : 0;
  const title =
    status === 404
      ? 'Not found'
      : status === 403
        ? 'You do not have access to this'
        : status === 0
          ? 'Cannot reach the server'
          : 'Something went wrong';
  return (
    <div className="error-box" role="alert">
      <strong>{title}</strong>
      <p>{errorMessage(error)}</p>
      {retry && (
        <button type="button" className="btn btn-small" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Renders loading and error states for a query, then its data. */
export function Loader<T>({
  query,
  children,
  label,
}: {
  query: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown };
  children: (data: T) => ReactNode;
  label?: string;
}) {
  if (query.isPending) return <Spinner label={label} />;
  if (query.error || query.data === undefined)
    return <ErrorBox error={query.error} retry={() => query.refetch()} />;
  return <>{children(query.data)}</>;
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <strong>{title}</strong>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

export type Crumb = { label: string; to?: string };

export function Breadcrumbs({ items }: { items: Crumb[] }) {
  return (
    <nav aria-label="Breadcrumb" className="crumbs">
      <ol>
        {items.map((c, i) => (
          <li key={`${c.label}-${c.to ?? ''}`}>
            {c.to && i < items.length - 1 ? (
              <Link to={c.to}>{c.label}</Link>
            ) : (
              <span aria-current={i === items.length - 1 ? 'page' : undefined}>{c.label}</span>
            )}
          </li>
        ))}
      </ol>
    </nav>
  );
}

export function Tabs({
  items,
  current,
}: {
  items: { id: string; label: string; to: string }[];
  current: string;
}) {
  return (
    <nav className="tabs" aria-label="Sections">
      {items.map((t) => (
        <Link
          key={t.id}
          to={t.to}
          className={t.id === current ? 'tab active' : 'tab'}
          aria-current={t.id === current ? 'page' : undefined}
        >
          {t.label}
        </Link>
      ))}
    </nav>
  );
}

export function PageHeader({
  title,
  kicker,
  actions,
}: {
  title: ReactNode;
  kicker?: string;
  actions?: ReactNode;
}) {
  return (
    <header className="page-header">
      <div>
        {kicker && <div className="kicker">{kicker}</div>}
        <h1>{title}</h1>
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </header>
  );
}

/** A modal dialog on the native <dialog> element: focus is trapped, Escape closes it. */
export function Dialog({
  open,
  title,
  onClose,
  children,
  footer,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      {open && (
        <>
          <h2 id={titleId}>{title}</h2>
          <div className="dialog-body">{children}</div>
          {footer && <div className="dialog-footer">{footer}</div>}
        </>
      )}
    </dialog>
  );
}

export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  busy,
  error,
  onConfirm,
  onClose,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  busy?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onClose: () => void;
}) {
  return (
    <Dialog
      open={open}
      title={title}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-danger" onClick={onConfirm} disabled={busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </>
      }
    >
      {children}
      {error ? (
        <p className="field-error" role="alert">
          {errorMessage(error)}
        </p>
      ) : null}
    </Dialog>
  );
}

/** A labelled form control with help text and an inline error. */
export function Field({
  label,
  help,
  error,
  children,
  id,
  className,
}: {
  label: string;
  help?: ReactNode;
  error?: string | null;
  children: (props: { id: string; 'aria-invalid'?: boolean; 'aria-describedby'?: string }) => ReactNode;
  id?: string;
  className?: string;
}) {
  const auto = useId();
  const fid = id ?? auto;
  const helpId = `${fid}-help`;
  const errId = `${fid}-error`;
  const describedBy = [help ? helpId : '', error ? errId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' has-error' : ''}${className ? ` ${className}` : ''}`}>
      <label htmlFor={fid}>{label}</label>
      {children({ id: fid, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {help && (
        <div className="help" id={helpId}>
          {help}
        </div>
      )}
      {error && (
        <div className="field-error" id={errId} role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

type ValueFieldProps = {
  label: string;
  help?: ReactNode;
  error?: string | null;
  value: string;
  onChange: (value: string) => void;
};

/** A labelled `<input type="number">` bound to a string value. */
export function NumberField({ min, step, ...f }: ValueFieldProps & { min?: number; step?: number | 'any' }) {
  return (
    <Field label={f.label} error={f.error} help={f.help}>
      {(p) => (
        <input
          {...p}
          type="number"
          min={min}
          step={step}
          value={f.value}
          onChange={(e) => f.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

/** A labelled `<select>`; the children are its `<option>`s. */
export function SelectField({ children, ...f }: ValueFieldProps & { children: ReactNode }) {
  return (
    <Field label={f.label} error={f.error} help={f.help}>
      {(p) => (
        <select {...p} value={f.value} onChange={(e) => f.onChange(e.target.value)}>
          {children}
        </select>
      )}
    </Field>
  );
}

/** A labelled three-row `<textarea>`. */
export function TextAreaField(f: ValueFieldProps) {
  return (
    <Field label={f.label} error={f.error} help={f.help}>
      {(p) => <textarea {...p} rows={3} value={f.value} onChange={(e) => f.onChange(e.target.value)} />}
    </Field>
  );
}

/** A small button in a table row's actions, named for the row it acts on. */
export function RowButton({
  label,
  onClick,
  danger,
  children,
}: {
  label: string;
  onClick: () => void;
  danger?: boolean;
  children: ReactNode;
}) {
  return (
    <button
      type="button"
      className={`btn btn-small${danger ? ' btn-danger-ghost' : ''}`}
      onClick={onClick}
      aria-label={label}
    >
      {children}
    </button>
  );
}

/** A row's Delete button, named for the row. */
export function DeleteButton({ name, onClick }: { name: string; onClick: () => void }) {
  return (
    <RowButton label={`Delete ${name}`} danger onClick={onClick}>
      Delete
    </RowButton>
  );
}

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function relativeTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((t - Date.now()) / 1000);
  const a = Math.abs(s);
  if (a < 45) return rtf.format(s, 'second');
  if (a < 2700) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 64800) return rtf.format(Math.round(s / 3600), 'hour');
  if (a < 86400 * 26) return rtf.format(Math.round(s / 86400), 'day');
  return new Date(t).toLocaleDateString();
}

export function absoluteTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString();
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">never</span>;
  return (
    <time dateTime={iso} title={absoluteTime(iso)}>
      {relativeTime(iso)}
    </time>
  );
}

export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
  }
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

export function JsonBlock({ value, label }: { value: unknown; label?: string }) {
  return (
    <pre className="code" title={label}>
      {typeof value === 'string' ? value : JSON.stringify(value, null, 2)}
    </pre>
  );
}
