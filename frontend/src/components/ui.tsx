import { useId, type InputHTMLAttributes, type ReactNode } from 'react';
import type { ApiError } from '../api';
import { relativeTime, whenLocal, whenUtc } from '../format';
import { useRelativeTick, useTimeMode } from '../time-mode';
import { humanIssue } from '../messages';

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <span className="spinner" role="status" aria-live="polite">
      <span className="spinner-ring" aria-hidden="true" />
      <span className="spinner-label">{label}</span>
    </span>
  );
}

/** A problem+json answer shown as it is: title, detail, status, and any issues not shown beside a field. */
export function ProblemBox({ error, fields = [], onRetry }: { error: ApiError | undefined; fields?: string[]; onRetry?: () => void }) {
  if (!error) return null;
  const { title, detail, status, issues, type } = error.problem;
  const rest = issues.filter((i) => !fields.includes(i.path.split('.')[0] ?? ''));
  // Every issue is already shown beside its field: a second box saying "Validation failed" only repeats it.
  if (issues.length > 0 && rest.length === 0 && status === 400) return null;
  return (
    <div className="problem" role="alert" data-testid="problem">
      <div className="problem-title">
        {title}
        {status ? <span className="problem-status"> ({status})</span> : null}
      </div>
      {detail ? <div className="problem-detail">{detail}</div> : null}
      {rest.length > 0 ? (
        <ul className="problem-issues">
          {rest.map((i, n) => (
            <li key={n}>
              {i.path ? <strong>{i.path}:</strong> : null} {humanIssue(i.message)}
            </li>
          ))}
        </ul>
      ) : null}

      {onRetry ? (
        <button type="button" className="button small" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Field({
  label,
  error,
  hint,
  ...input
}: { label: string; error?: string | undefined; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const errId = `${id}-error`;
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? errId : undefined} {...input} />
      {error ? (
        <div className="field-error" id={errId} data-testid={`field-error-${input.name ?? ''}`}>
          {error}
        </div>
      ) : hint ? (
        <div className="field-hint">{hint}</div>
      ) : null}
    </div>
  );
}

export function ProgressBar({ value, max, label, testId }: { value: number; max: number; label: string; testId?: string }) {
  const pct = max > 0 ? Math.min(100, Math.max(0, (value / max) * 100)) : 0;
  return (
    <div className="progress" data-testid={testId}>
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={max}
        aria-valuenow={Math.min(value, max)}
      >
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <span className="progress-text">{pct.toFixed(pct < 10 && pct > 0 ? 1 : 0)}%</span>
    </div>
  );
}

/** `tone` overrides the colour a status gets by name (a projection's `running` is healthy, a saga's is in progress). */
export function StatusBadge({ status, testId, tone }: { status: string; testId?: string; tone?: 'ok' | 'warn' | 'bad' }) {
  const cls = tone ? `badge-tone-${tone}` : `badge-${status.replace(/[^a-z-]/gi, '').toLowerCase()}`;
  return (
    <span className={`badge ${cls}`} data-testid={testId} data-status={status}>
      {status}
    </span>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{title}</h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </header>
  );
}

/** A value of unknown shape, printed as readable JSON. */
export function JsonView({ value, testId }: { value: unknown; testId?: string }) {
  return (
    <pre className="json" data-testid={testId}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/**
 * A timestamp in the viewer's chosen mode (local, UTC or relative), always with the date when
 * it is not today; the other two forms are on hover.
 */
export function TimeOf({ at }: { at: unknown }) {
  const mode = useTimeMode();
  useRelativeTick();
  if (typeof at !== 'string') return <span className="muted">–</span>;
  const local = whenLocal(at);
  const utc = whenUtc(at);
  const ago = relativeTime(at);
  const shown = mode === 'utc' ? utc : mode === 'relative' ? ago : local;
  const hover = mode === 'utc' ? `${local} local · ${ago}` : mode === 'relative' ? `${local} local · ${utc}` : `${utc} · ${ago}`;
  return (
    <time className="muted" dateTime={at} title={hover}>
      {shown}
    </time>
  );
}
