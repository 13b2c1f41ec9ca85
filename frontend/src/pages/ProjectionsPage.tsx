import { useEffect, useRef, useState } from 'react';
import type { ProjectionStatus } from '../api';
import { useSession } from '../session';
import { useAction, useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { clockTime, count, duration, money } from '../format';
import { Empty, PageHeader, ProblemBox, ProgressBar, Spinner, StatusBadge } from '../components/ui';
import { ReplayCard } from '../components/ReplayCard';

function isRebuilding(p: ProjectionStatus): boolean {
  return p.status === 'rebuilding' || (!!p.rebuild && p.rebuild.phase !== 'done' && p.rebuild.phase !== 'failed');
}

interface Note {
  at: string;
  text: string;
}

/** Notes what changed between two polls, so the swap stays visible after it happened. */
function changesOf(before: ProjectionStatus | undefined, after: ProjectionStatus): string[] {
  if (!before) return [];
  const out: string[] = [];
  if (before.status !== after.status) out.push(`status ${before.status} → ${after.status}`);
  const was = before.rebuild?.phase;
  const now = after.rebuild?.phase;
  if (now && now !== was) {
    const v = after.rebuild?.verification;
    if (now === 'done')
      out.push(
        `rebuilt copy swapped in${v ? `: ${count(v.shadowCount)} documents (live had ${count(v.liveCount)}, ${count(v.differing)} differing)` : ''}`,
      );
    else if (now === 'failed') out.push(`rebuild failed${after.rebuild?.error ? `: ${after.rebuild.error}` : ''}`);
    else out.push(`rebuild ${now}`);
  }
  return out;
}

export function ProjectionsPage() {
  const { api } = useSession();
  const projections = useResource(async () => (await api.projections()).items, []);
  const stats = useResource(() => api.stats(), []);
  const reload = useThrottled(projections.reload, 250);
  useLive(['projection'], reload);
  const items = projections.data ?? [];
  const anyRebuilding = items.some(isRebuilding);

  // Poll fast while a rebuild runs (SSE also pushes progress, when the server sends it).
  useEffect(() => {
    const t = setInterval(projections.reload, anyRebuilding ? 500 : 5000);
    return () => clearInterval(t);
  }, [anyRebuilding, projections.reload]);

  const previous = useRef(new Map<string, ProjectionStatus>());
  const [notes, setNotes] = useState<Record<string, Note[]>>({});
  useEffect(() => {
    if (!projections.data) return;
    const at = new Date().toISOString();
    const add: Record<string, Note[]> = {};
    for (const p of projections.data) {
      const c = changesOf(previous.current.get(p.name), p);
      if (c.length) add[p.name] = c.map((text) => ({ at, text }));
      previous.current.set(p.name, p);
    }
    if (Object.keys(add).length)
      setNotes((n) => {
        const next = { ...n };
        for (const [k, v] of Object.entries(add)) next[k] = [...v, ...(next[k] ?? [])].slice(0, 8);
        return next;
      });
  }, [projections.data]);

  return (
    <div>
      <PageHeader title="Projections">{projections.loading && !projections.data ? <Spinner label="Loading projections" /> : null}</PageHeader>
      <ProblemBox error={projections.error} onRetry={projections.reload} />
      {stats.data ? <StatsCard stats={stats.data} /> : null}
      {projections.data && items.length === 0 ? <Empty>No projections registered.</Empty> : null}
      <div className="projection-grid" data-testid="projections">
        {items.map((p) => (
          <ProjectionCard key={p.name} p={p} notes={notes[p.name] ?? []} onStarted={projections.reload} />
        ))}
      </div>
      {items.length ? <ReplayCard projections={items} /> : null}
    </div>
  );
}

function ProjectionCard({ p, notes, onStarted }: { p: ProjectionStatus; notes: Note[]; onStarted: () => void }) {
  const { api } = useSession();
  const rebuild = useAction(async () => {
    await api.rebuild(p.name);
    onStarted();
  });
  const running = isRebuilding(p);
  const r = p.rebuild;
  return (
    <section className="card projection" aria-labelledby={`proj-${p.name}`} data-testid={`projection-${p.name}`}>
      <div className="card-head">
        <h2 id={`proj-${p.name}`}>{p.name}</h2>
        <StatusBadge
          status={p.status}
          tone={p.status === 'running' ? 'ok' : p.status === 'stopped' || p.status === 'failed' ? 'bad' : 'warn'}
          testId={`projection-status-${p.name}`}
        />
      </div>
      <dl className="facts">
        <dt>Position</dt>
        <dd data-testid={`projection-position-${p.name}`}>{p.position ?? '–'}</dd>
        {p.headPosition !== undefined ? (
          <>
            <dt>Log head</dt>
            <dd>{p.headPosition ?? '–'}</dd>
          </>
        ) : null}
        <dt>Lag</dt>
        <dd className={p.lag > 0 ? 'warn' : undefined}>{count(p.lag)} messages</dd>
        {p.documents !== undefined ? (
          <>
            <dt>Documents</dt>
            <dd data-testid={`projection-documents-${p.name}`}>{count(p.documents)}</dd>
          </>
        ) : null}
      </dl>
      {r ? (
        <div
          className="rebuild-progress"
          data-testid={`rebuild-progress-${p.name}`}
          data-done={r.eventsDone}
          data-total={r.total ?? undefined}
          data-phase={r.phase}
        >
          <ProgressBar value={r.phase === 'done' ? Math.max(r.eventsDone, r.total ?? 0) : r.eventsDone} max={r.total ?? Math.max(r.eventsDone, 1)} label={`Rebuild of ${p.name}`} testId={`rebuild-bar-${p.name}`} />
          <div className="muted small">
            <Phases phase={r.phase} />
            {count(r.eventsDone)} / {r.total === null ? '?' : count(r.total)} events
            {r.rate !== undefined ? ` · ${count(Math.round(r.rate))} ev/s` : ''}
            {r.etaSeconds !== undefined && r.etaSeconds !== null && r.phase !== 'done' ? ` · ETA ${duration(r.etaSeconds * 1000)}` : ''}
            {r.finishedAt ? ` · finished ${clockTime(r.finishedAt)}` : ''}
          </div>
          {r.verification ? (
            <div className={`small ${r.verification.differing > 0 ? 'warn' : 'ok'}`} data-testid={`rebuild-verification-${p.name}`}>
              checked: rebuilt {count(r.verification.shadowCount)} vs live {count(r.verification.liveCount)} documents, {count(r.verification.differing)} differing
              {r.verification.caughtUp ? ', caught up' : ', not caught up'}
            </div>
          ) : null}
          {r.error ? <div className="field-error">{r.error}</div> : null}
        </div>
      ) : null}
      <button type="button" className="button" onClick={() => void rebuild.start()} disabled={rebuild.pending || running} data-testid={`rebuild-${p.name}`}>
        {rebuild.pending || running ? <span className="spinner-ring small" aria-hidden="true" /> : null}
        {running ? 'Rebuilding…' : rebuild.pending ? 'Starting…' : 'Rebuild from scratch'}
      </button>
      <ProblemBox error={rebuild.error} />
      {notes.length ? (
        <ul className="notes" aria-label="Recent changes" data-testid={`projection-notes-${p.name}`}>
          {notes.map((n, i) => (
            <li key={i}>
              <time className="muted">{clockTime(n.at)}</time> {n.text}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

const phases = ['starting', 'building', 'catching-up', 'verifying', 'swapping', 'done'] as const;

/** Where the rebuild is: the shadow copy is built, catches up, is checked, then swapped in for the live one. */
function Phases({ phase }: { phase: string }) {
  const at = phases.indexOf(phase as (typeof phases)[number]);
  return (
    <ol className="phases" aria-label={`Rebuild phase: ${phase}`}>
      {phases.map((ph, i) => (
        <li key={ph} className={i < at || phase === 'done' ? 'past' : i === at ? 'now' : undefined}>
          {ph}
        </li>
      ))}
      {phase === 'failed' ? <li className="failed">failed</li> : null}
    </ol>
  );
}

type Totals = { captured?: number; refunded?: number; confirmed?: number };

/** The stats read model: money per currency (captured - refunded = confirmed when the books balance), orders and saga outcomes. */
function StatsCard({ stats }: { stats: Record<string, unknown> }) {
  const byCurrency = (stats.byCurrency && typeof stats.byCurrency === 'object' ? stats.byCurrency : {}) as Record<string, Totals>;
  const rows: [string, Totals][] = Object.keys(byCurrency).length
    ? Object.entries(byCurrency)
    : [[typeof stats.currency === 'string' ? stats.currency : 'USD', { captured: stats.capturedTotal as number, refunded: stats.refundedTotal as number, confirmed: stats.confirmedTotal as number }]];
  const orders = (stats.orders ?? {}) as Record<string, number>;
  const durations = (stats.sagaDurations ?? {}) as Record<string, { count: number; averageMs: number }>;
  return (
    <section className="card stats-card" aria-label="Totals" data-testid="stats">
      {rows.map(([currency, t]) => (
        <div className="stats" key={currency}>
          <div>
            <div className="stat-label">Captured ({currency})</div>
            <div className="stat-value">{money(t.captured, currency)}</div>
          </div>
          <div>
            <div className="stat-label">Refunded</div>
            <div className="stat-value">{money(t.refunded, currency)}</div>
          </div>
          <div>
            <div className="stat-label">Confirmed orders total</div>
            <div className="stat-value">{money(t.confirmed, currency)}</div>
          </div>
        </div>
      ))}
      {Object.keys(orders).length ? (
        <p className="muted small">
          Orders: {Object.entries(orders).map(([k, v]) => `${count(v)} ${k}`).join(' · ')}
          {Object.keys(durations).length
            ? ` — saga average: ${Object.entries(durations)
                .map(([k, d]) => `${k} ${duration(d.averageMs)}`)
                .join(', ')}`
            : ''}
        </p>
      ) : null}
    </section>
  );
}
