import { useEffect, useRef, useState } from 'react';
import type { ProjectionStatus, RebuildProgress } from '../api';
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
  // Rebuild progress arrives on the live stream as it happens; it is shown as it comes,
  // so phases shorter than a poll are still seen, and the poll fills in the rest.
  const [liveProgress, setLiveProgress] = useState<Record<string, RebuildProgress>>({});
  const [phasesSeen, setPhasesSeen] = useState<Record<string, string[]>>({});
  useLive(['projection'], (msg) => {
    const d = msg.data as (RebuildProgress & { kind?: string }) | null;
    if (d?.kind === 'rebuild' && d.projection) {
      const name = d.projection;
      setLiveProgress((l) => ({ ...l, [name]: d }));
      setPhasesSeen((s) => (s[name]?.includes(d.phase) ? s : { ...s, [name]: [...(d.phase === 'starting' ? [] : (s[name] ?? [])), d.phase] }));
      if (d.phase === 'done' || d.phase === 'failed') reload();
      return;
    }
    reload();
  });
  const items = (projections.data ?? []).map((p) => withLiveProgress(p, liveProgress[p.name]));
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
          <ProjectionCard key={p.name} p={p} notes={notes[p.name] ?? []} seen={phasesSeen[p.name] ?? []} onStarted={projections.reload} />
        ))}
      </div>
      {items.length ? <ReplayCard projections={items} /> : null}
    </div>
  );
}

const phaseOrder = ['starting', 'building', 'catching-up', 'verifying', 'swapping', 'done', 'failed'];

/** The newer of the polled and the pushed progress of the same rebuild. */
function withLiveProgress(p: ProjectionStatus, live: RebuildProgress | undefined): ProjectionStatus {
  const polled = p.rebuild;
  if (!live || (polled && polled.startedAt !== live.startedAt && polled.startedAt && live.startedAt && polled.startedAt > live.startedAt)) return p;
  if (!polled || polled.startedAt !== live.startedAt) return { ...p, rebuild: live, status: isDone(live) ? p.status : 'rebuilding' };
  const newer = phaseOrder.indexOf(live.phase) > phaseOrder.indexOf(polled.phase) || (live.phase === polled.phase && live.eventsDone > polled.eventsDone);
  return newer ? { ...p, rebuild: live } : p;
}
const isDone = (r: RebuildProgress) => r.phase === 'done' || r.phase === 'failed';

/** "events of its types" or "log events": what a rebuild's figures count, said once, the same for done and total. */
const countingLabel = (counting: RebuildProgress['counting']) => (counting === 'relevant' ? 'events of its types' : 'log events');

/** Where the projection stands against the log, in one sentence whose numbers agree with each other. */
function Standing({ p }: { p: ProjectionStatus }) {
  const behind = p.behind ?? null;
  const atHead = p.position !== null && p.position === p.headPosition;
  let text: string;
  if (p.lag > 0 || (behind ?? 0) > 0) {
    const parts = [];
    if (behind !== null && behind > 0) parts.push(`${count(behind)}${p.behindCapped ? '+' : ''} events of its types in the log after its position`);
    if (p.lag > 0) parts.push(`${count(p.lag)} messages waiting on the bus`);
    text = `behind: ${parts.join(', ')}`;
  } else if (p.headPosition === null || p.headPosition === undefined) text = 'caught up: the log is empty';
  else if (atHead || behind === null) text = 'caught up with the log head';
  else text = 'caught up: every event after its position is of a type it does not handle';
  return (
    <dd className={text.startsWith('behind') ? 'warn' : undefined} data-testid={`projection-lag-${p.name}`} data-lag={p.lag} data-behind={behind ?? undefined}>
      {text}
    </dd>
  );
}

function HandoverLine({ h }: { h: NonNullable<RebuildProgress['handover']> }) {
  const what =
    h.state === 'pausing'
      ? `pausing the live projector: ${h.acknowledged} of ${h.replicas} replicas have stopped writing`
      : h.state === 'paused'
        ? `live projector paused: all ${h.replicas} replica${h.replicas === 1 ? '' : 's'} acknowledged`
        : h.state === 'resuming'
          ? `resuming the live projector: ${h.acknowledged} of ${h.replicas} replicas back`
          : `live projector resumed on the new copy (${h.acknowledged} of ${h.replicas} replicas acknowledged)`;
  return (
    <div className="small muted" data-testid="rebuild-handover" data-state={h.state} data-replicas={h.replicas} data-acknowledged={h.acknowledged}>
      {h.replicas === 0 ? 'no live projector replica runs: nothing to pause across the swap' : what}
    </div>
  );
}

function ProjectionCard({ p, notes, seen, onStarted }: { p: ProjectionStatus; notes: Note[]; seen: string[]; onStarted: () => void }) {
  const { api } = useSession();
  const [confirming, setConfirming] = useState(false);
  const [preview, setPreview] = useState<ProjectionStatus['preview'] | 'loading'>();
  const rebuild = useAction(async () => {
    setConfirming(false);
    await api.rebuild(p.name);
    onStarted();
  });
  const askConfirm = () => {
    setConfirming(true);
    setPreview('loading');
    // What the rebuild will read, counted as it will count it, for the confirm step.
    api.projections(p.name).then(
      ({ items }) => setPreview(items.find((i) => i.name === p.name)?.preview),
      () => setPreview(undefined),
    );
  };
  const running = isRebuilding(p);
  const r = p.rebuild;
  const total = r?.total ?? null;
  const percent = r && total ? Math.min(100, Math.floor((r.eventsDone / total) * 100)) : r?.phase === 'done' ? 100 : null;
  const lastRate = r?.phase === 'done' && r.rate ? r.rate : undefined;
  const previewReady = preview && preview !== 'loading' ? preview : undefined;
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
        <dt>Applied up to</dt>
        <dd data-testid={`projection-position-${p.name}`}>{p.position === null ? 'nothing yet' : `position ${String(p.position)}`}</dd>
        {p.headPosition !== undefined ? (
          <>
            <dt>Log head</dt>
            <dd>{p.headPosition === null ? 'empty log' : `position ${p.headPosition}`}</dd>
          </>
        ) : null}
        <dt>Standing</dt>
        <Standing p={p} />
        {p.documents !== undefined ? (
          <>
            <dt>Documents</dt>
            <dd data-testid={`projection-documents-${p.name}`}>{count(p.documents)}</dd>
          </>
        ) : null}
        {p.replay ? (
          <>
            <dt>Re-published</dt>
            <dd data-testid={`projection-replay-${p.name}`} data-published={p.replay.published} data-waiting={p.replay.waiting}>
              {count(p.replay.published)} events to replay.{p.groupId}:{' '}
              {p.replay.waiting > 0 ? `${count(p.replay.waiting)} still to consume` : 'all consumed'}
              {p.applied ? ` · this projector applied ${count(p.applied.events)} and skipped ${count(p.applied.skipped)} as already applied, since it started` : ''}
            </dd>
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
          <ProgressBar value={total ? Math.min(r.eventsDone, total) : r.phase === 'done' ? 1 : 0} max={total || 1} label={`Rebuild of ${p.name}`} testId={`rebuild-bar-${p.name}`} />
          <div className="muted small">
            <Phases phase={r.phase} seen={seen} />
            <span data-testid={`rebuild-figures-${p.name}`}>
              {percent !== null ? `${percent}% · ` : ''}
              {count(r.eventsDone)} {total ? `of ${count(total)} ` : ''}
              {countingLabel(r.counting)} read
            </span>
            {r.rate !== undefined ? ` · ${count(Math.round(r.rate))} ev/s` : ''}
            {r.etaSeconds !== undefined && r.etaSeconds !== null && r.phase !== 'done' && r.phase !== 'failed' ? ` · ETA ${duration(r.etaSeconds * 1000)}` : ''}
            {r.finishedAt ? ` · finished ${clockTime(r.finishedAt)}` : ''}
          </div>
          {r.handover ? <HandoverLine h={r.handover} /> : null}
          {r.verification ? (
            <div className={`small ${r.verification.differing > 0 ? 'warn' : 'ok'}`} data-testid={`rebuild-verification-${p.name}`}>
              checked: rebuilt {count(r.verification.shadowCount)} vs live {count(r.verification.liveCount)} documents,{' '}
              {r.verification.differing < 0 ? 'contents not compared' : `${count(r.verification.differing)} differing`}
              {r.verification.caughtUp ? ', caught up' : ', not caught up'}
            </div>
          ) : null}
          {r.error ? <div className="field-error">{r.error}</div> : null}
        </div>
      ) : null}
      {confirming ? (
        <div className="confirm" role="group" aria-label={`Confirm the rebuild of ${p.name}`} data-testid={`rebuild-confirm-panel-${p.name}`}>
          <p className="small">
            Rebuild <strong>{p.name}</strong> from scratch?{' '}
            <span data-testid={`rebuild-preview-${p.name}`} data-events={previewReady?.events ?? undefined}>
              {preview === 'loading'
                ? 'Counting what it will read…'
                : previewReady?.events !== null && previewReady?.events !== undefined
                  ? `It reads ${count(previewReady.events)} ${countingLabel(previewReady.counting)}${
                      lastRate ? `, about ${duration((previewReady.events / lastRate) * 1000)} at the last rebuild's ${count(Math.round(lastRate))} ev/s` : ''
                    },`
                  : `It reads the whole log (up to position ${String(p.headPosition)}),`}
            </span>{' '}
            into a new copy; the current read model keeps serving until the copy has caught up, is checked against it and swapped in. Across the
            swap the live projector pauses for a moment (every replica, in every process).
          </p>
          <div className="row">
            <button type="button" className="button primary" onClick={() => void rebuild.start()} data-testid={`rebuild-confirm-${p.name}`}>
              Start the rebuild
            </button>
            <button type="button" className="button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <button type="button" className="button" onClick={askConfirm} disabled={rebuild.pending || running} data-testid={`rebuild-${p.name}`}>
          {rebuild.pending || running ? <span className="spinner-ring small" aria-hidden="true" /> : null}
          {running ? 'Rebuilding…' : rebuild.pending ? 'Starting…' : 'Rebuild from scratch'}
        </button>
      )}
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
/** What each phase does, in the words an operator reads. */
const phaseLabels: Record<(typeof phases)[number], string> = {
  starting: 'starting',
  building: 'reading the log',
  'catching-up': 'catching up',
  verifying: 'verifying',
  swapping: 'swapping in',
  done: 'done',
};

/** Where the rebuild is: the shadow copy is built, catches up, is checked, then swapped in for the live one. */
function Phases({ phase, seen }: { phase: string; seen: string[] }) {
  const at = phases.indexOf(phase as (typeof phases)[number]);
  return (
    <ol className="phases" aria-label={`Rebuild phase: ${phase}`} data-testid="rebuild-phases" data-seen={seen.join(' ')}>
      {phases.map((ph, i) => (
        <li key={ph} data-phase={ph} className={i < at || phase === 'done' ? 'past' : i === at ? 'now' : undefined} title={seen.includes(ph) ? 'seen live' : undefined}>
          {phaseLabels[ph]}
          {seen.includes(ph) && ph !== phase ? ' ✓' : ''}
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
