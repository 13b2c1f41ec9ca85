import { useEffect, useMemo, useState } from 'react';
import type { ListFilters } from '../api';
import { useDebounced } from '../hooks';

/** What the filter bar holds; `window` is a preset length, or `custom` with the two dates typed. */
export interface FilterState {
  q: string;
  customer: string;
  status: string;
  window: string;
  since: string;
  until: string;
}

export const noFilters: FilterState = { q: '', customer: '', status: '', window: '', since: '', until: '' };

const windows: { value: string; label: string; ms?: number }[] = [
  { value: '', label: 'any time' },
  { value: '15m', label: 'last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'last hour', ms: 3_600_000 },
  { value: '24h', label: 'last 24 hours', ms: 86_400_000 },
  { value: '7d', label: 'last 7 days', ms: 7 * 86_400_000 },
  { value: 'custom', label: 'between…' },
];

const idPrefix = /^[A-Za-z0-9_-]{1,64}$/;
const email = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** A datetime-local value (the viewer's clock) as an ISO instant, or undefined when empty or unreadable. */
function instant(local: string): string | undefined {
  if (!local) return undefined;
  const t = new Date(local).getTime();
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/**
 * The query the bar stands for: only what would pass the server's checks is sent, so a half-typed
 * id or email narrows nothing until it is whole. `now` fixes a preset window when it is picked.
 */
export function toQuery(f: FilterState, now: number): ListFilters & { status?: string } {
  const w = windows.find((x) => x.value === f.window);
  const since = w?.ms !== undefined ? new Date(now - w.ms).toISOString() : f.window === 'custom' ? instant(f.since) : undefined;
  const until = f.window === 'custom' ? instant(f.until) : undefined;
  return {
    ...(idPrefix.test(f.q.trim()) ? { q: f.q.trim() } : {}),
    ...(email.test(f.customer.trim()) ? { customer: f.customer.trim().toLowerCase() } : {}),
    ...(f.status ? { status: f.status } : {}),
    ...(since ? { since } : {}),
    ...(until && (!since || since < until) ? { until } : {}),
  };
}

/** The bar's state and the debounced query it stands for (typing asks once per pause). */
export function useListFilters(initial: Partial<FilterState> = {}) {
  const [filters, setFilters] = useState<FilterState>({ ...noFilters, ...initial });
  const settled = useDebounced(filters, 300);
  // A preset window is measured from when it was chosen, not re-measured on every render.
  const [pickedAt, setPickedAt] = useState(() => Date.now());
  useEffect(() => setPickedAt(Date.now()), [settled.window]);
  const query = useMemo(() => toQuery(settled, pickedAt), [settled, pickedAt]);
  const key = JSON.stringify(query);
  return { filters, setFilters, query, key };
}

export function ListFilterBar({
  filters,
  onChange,
  statuses,
  showCustomer,
  testId,
  timeLabel = 'Started',
}: {
  filters: FilterState;
  onChange: (f: FilterState) => void;
  statuses: readonly string[];
  showCustomer: boolean;
  testId: string;
  /** What the time window is on: when an order was placed, when a saga started. */
  timeLabel?: string;
}) {
  const set = (patch: Partial<FilterState>) => onChange({ ...filters, ...patch });
  const badId = filters.q.trim() !== '' && !idPrefix.test(filters.q.trim());
  const badEmail = filters.customer.trim() !== '' && !email.test(filters.customer.trim());
  const active = JSON.stringify(filters) !== JSON.stringify(noFilters);
  const activeCount = (Object.keys(noFilters) as (keyof FilterState)[]).filter((k) => k !== 'since' && k !== 'until' && filters[k] !== '').length;
  // On a phone the bar folds away behind one line, so the list is on the first screen.
  const [open, setOpen] = useState(() => !window.matchMedia('(max-width: 700px)').matches);
  return (
    <details className="filters-fold" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary data-testid={`${testId}-toggle`}>Filters{activeCount ? ` (${activeCount} on)` : ''}</summary>
    <div className="filters" role="search" aria-label="Filter the list" data-testid={testId}>
      <label className="field">
        <span>Order id starts with</span>
        <input className="text" type="search" value={filters.q} onChange={(e) => set({ q: e.target.value })} placeholder="e.g. 3f2a" data-testid={`${testId}-q`} />
        {badId ? <span className="field-error">Ids are letters, digits, - and _.</span> : null}
      </label>
      {showCustomer ? (
        <label className="field">
          <span>Customer email</span>
          <input
            className="text"
            type="search"
            value={filters.customer}
            onChange={(e) => set({ customer: e.target.value })}
            placeholder="alice@example.com"
            data-testid={`${testId}-customer`}
          />
          {badEmail ? <span className="field-error">A whole email address.</span> : null}
        </label>
      ) : null}
      <label className="field">
        <span>Status</span>
        <select value={filters.status} onChange={(e) => set({ status: e.target.value })} data-testid={`${testId}-status`}>
          {['', ...statuses].map((s) => (
            <option key={s} value={s}>
              {s || 'all'}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>{timeLabel}</span>
        <select value={filters.window} onChange={(e) => set({ window: e.target.value })} data-testid={`${testId}-window`}>
          {windows.map((w) => (
            <option key={w.value} value={w.value}>
              {w.label}
            </option>
          ))}
        </select>
      </label>
      {filters.window === 'custom' ? (
        <>
          <label className="field">
            <span>From</span>
            <input className="text" type="datetime-local" value={filters.since} onChange={(e) => set({ since: e.target.value })} data-testid={`${testId}-since`} />
          </label>
          <label className="field">
            <span>Until</span>
            <input className="text" type="datetime-local" value={filters.until} onChange={(e) => set({ until: e.target.value })} data-testid={`${testId}-until`} />
          </label>
        </>
      ) : null}
      {active ? (
        <button type="button" className="button small filters-clear" onClick={() => onChange(noFilters)} data-testid={`${testId}-clear`}>
          Clear filters
        </button>
      ) : null}
    </div>
    </details>
  );
}
