import { useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, type SagaInstance, type SagaStats } from '../api';
import { useSession } from '../session';
import { useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { clockTime, duration, shortId } from '../format';
import { hashParam, Link, setHashParam } from '../router';
import { adaptDefinition, DefinitionError, type SagaGraph } from '../saga/definition';
import { countsFromStats, instancePath, stateAfter, type Counts, type InstancePath } from '../saga/instance';
import type { Layout } from '../saga/layout';
import { SagaChart } from '../saga/SagaChart';
import { Empty, PageHeader, ProblemBox, Spinner, StatusBadge, TimeOf } from '../components/ui';
import { OpenById } from '../components/OpenById';
import { concernsOrder } from './OrderDetailPage';
import { importFresh } from '../chunks';

const sagaStatuses = ['', 'running', 'completed', 'rejected', 'cancelled'] as const;

function definitionProblem(err: unknown): ApiError {
  return new ApiError({
    type: 'saga-definition',
    title: 'The saga definition could not be drawn',
    status: 0,
    detail: err instanceof Error ? err.message : String(err),
    issues: [],
  });
}

/** Fetches, adapts and lays out the machine once per visit. */
function useSagaGraph() {
  const { api } = useSession();
  const raw = useResource(() => api.sagaDefinition(), []);
  const [graph, setGraph] = useState<SagaGraph>();
  const [layout, setLayout] = useState<Layout>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    if (raw.data === undefined) return;
    let live = true;
    try {
      const g = adaptDefinition(raw.data);
      setGraph(g);
      // ELK is most of the bundle's weight, so it loads only when a statechart is drawn.
      importFresh(() => import('../saga/elk')).then(({ layoutGraph }) => layoutGraph(g)).then(
        (l) => live && setLayout(l),
        (err: unknown) => live && setError(definitionProblem(err)),
      );
    } catch (err) {
      setError(definitionProblem(err instanceof DefinitionError ? err : new Error(String(err))));
    }
    return () => {
      live = false;
    };
  }, [raw.data]);
  return { graph, layout, error: raw.error ?? error, loading: raw.loading || (raw.data !== undefined && !layout && !error), reload: raw.reload };
}

export function SagaPage({ orderId }: { orderId?: string }) {
  const { api, session } = useSession();
  // Listing every saga (for the counts) is an admin query; a customer sees their own order's saga.
  const isAdmin = session?.user.role === 'admin';
  const { graph, layout, error, loading, reload } = useSagaGraph();
  const [status, setStatus] = useState('');
  const [showCounts, setShowCounts] = useState(true);

  // Exact counts from the server's saga-stats projection: one small answer, not every history.
  const stats = useResource(() => (isAdmin ? api.sagaStats() : Promise.resolve(undefined)), [isAdmin]);
  // One page of instances at a time; `trail` holds the cursors of the pages before it.
  const [cursor, setCursor] = useState<string | null>(null);
  const [trail, setTrail] = useState<(string | null)[]>([]);
  useEffect(() => {
    setCursor(null);
    setTrail([]);
  }, [status]);
  const list = useResource(
    () => (isAdmin ? api.sagas({ status, cursor, limit: 50 }) : Promise.resolve(undefined)),
    [status, isAdmin, cursor],
  );
  const selected = useResource<SagaInstance | undefined>(() => (orderId ? api.saga(orderId) : Promise.resolve(undefined)), [orderId]);

  const reloadStats = useThrottled(stats.reload, 1000);
  const reloadList = useThrottled(list.reload, 3000);
  const reloadSelected = useThrottled(selected.reload, 200);
  useLive(['saga'], (msg) => {
    reloadStats();
    if (cursor === null) reloadList();
    if (orderId && concernsOrder(msg, orderId)) reloadSelected();
  });

  const sagas = list.data?.items ?? [];
  const counts = useMemo(() => (graph && showCounts && stats.data ? countsFromStats(graph, stats.data) : undefined), [graph, stats.data, showCounts]);
  const path = useMemo(() => (graph && selected.data ? instancePath(graph, selected.data) : undefined), [graph, selected.data]);

  return (
    <div className="saga-page">
      <PageHeader title="Saga visualiser">
        {isAdmin ? (
          <label className="inline-field">
            <input type="checkbox" checked={showCounts} onChange={(e) => setShowCounts(e.target.checked)} data-testid="toggle-counts" /> heatmap of all{' '}
            <strong data-testid="saga-total">{stats.data ? stats.data.total.toLocaleString() : '…'}</strong> instances
            <span className="heat-scale muted small" aria-hidden="true">
              few <span className="ramp" /> most
            </span>
          </label>
        ) : null}
        {loading || stats.loading ? <Spinner label={loading ? 'Laying out the machine' : 'Counting instances'} /> : null}
      </PageHeader>
      <ProblemBox error={error} onRetry={reload} />
      <div className="saga-layout">
        <aside className="card saga-instances" aria-labelledby="instances-title">
          <h2 id="instances-title">Instances</h2>
          <OpenById current={orderId} label="Order id" placeholder="order id" basePath="/sagas" />
          <label className="inline-field">
            Status{' '}
            <select value={status} onChange={(e) => setStatus(e.target.value)} data-testid="saga-status-filter">
              {sagaStatuses.map((s) => (
                <option key={s} value={s}>
                  {s || 'all'}
                </option>
              ))}
            </select>
          </label>
          <ProblemBox error={list.error ?? stats.error} onRetry={() => (list.reload(), stats.reload())} />
          {!isAdmin ? <p className="muted small">Open a saga from one of your orders; the list of all instances and their counts are for admins.</p> : null}
          {list.data && sagas.length === 0 ? <Empty>No sagas{status ? ` ${status}` : ''}.</Empty> : null}
          <ul className="instance-list" data-testid="saga-instances">
            {sagas.map((s) => (
              <li key={s.orderId} className={s.orderId === orderId ? 'selected' : undefined}>
                <Link to={`/sagas/${encodeURIComponent(s.orderId)}`} title={s.orderId} data-testid={`saga-instance-${s.orderId}`}>
                  <code>{shortId(s.orderId)}</code>
                </Link>{' '}
                <StatusBadge status={s.status} />
                {s.state !== s.status ? <span className="muted"> {s.state}</span> : null}
                <div className="muted small">
                  <TimeOf at={s.startedAt} />
                  {s.durationMs != null ? ` · ${duration(s.durationMs)}` : ''}
                </div>
              </li>
            ))}
          </ul>
          {isAdmin ? (
            <div className="row pager">
              <button
                type="button"
                className="button small"
                disabled={trail.length === 0}
                onClick={() => {
                  setCursor(trail[trail.length - 1] ?? null);
                  setTrail((t) => t.slice(0, -1));
                }}
              >
                ◀ Newer
              </button>
              <button
                type="button"
                className="button small"
                disabled={!list.data?.nextCursor}
                onClick={() => {
                  setTrail((t) => [...t, cursor]);
                  setCursor(list.data!.nextCursor);
                }}
                data-testid="saga-instances-next"
              >
                Older ▶
              </button>
            </div>
          ) : null}
          {isAdmin && stats.data ? <InStateList stats={stats.data} /> : null}
        </aside>
        <section className="saga-main" aria-label="Statechart">
          {graph && layout ? (
            <SagaView key={selected.data?.orderId ?? 'none'} graph={graph} layout={layout} saga={selected.data} path={path} counts={counts} />
          ) : loading ? (
            <div className="card chart-placeholder">
              <Spinner label="Loading the saga definition" />
            </div>
          ) : (
            <div className="card chart-placeholder">
              <Empty>The statechart appears here once the definition loads.</Empty>
            </div>
          )}
          <ProblemBox error={selected.error} onRetry={selected.reload} />
          {graph?.steps.length ? <StepTable graph={graph} /> : null}
        </section>
      </div>
    </div>
  );
}

function SagaView({
  graph,
  layout,
  saga,
  path,
  counts,
}: {
  graph: SagaGraph;
  layout: Layout;
  saga: SagaInstance | undefined;
  path: InstancePath | undefined;
  counts: Counts | undefined;
}) {
  const steps = path?.steps ?? [];
  const total = steps.length;
  // A step in the URL (`?step=3`) opens the replay there; without one it follows the live end.
  const fromUrl = useRef(hashParam('step'));
  const initial = fromUrl.current !== null && /^\d+$/.test(fromUrl.current) ? Math.min(Number(fromUrl.current), total) : total;
  const [step, setStep] = useState(initial);
  const [playing, setPlaying] = useState(false);
  useEffect(() => {
    if (saga) setHashParam('step', step >= total ? null : String(step));
  }, [step, total, saga]);
  // Follow the live end unless the user has stepped back into the past.
  const atEnd = useRef(initial >= total);
  useEffect(() => {
    if (atEnd.current) setStep(total);
  }, [total]);
  useEffect(() => {
    atEnd.current = step >= total;
  }, [step, total]);
  useEffect(() => {
    if (!playing) return;
    if (step >= total) {
      setPlaying(false);
      return;
    }
    const t = setTimeout(() => setStep((s) => s + 1), 800);
    return () => clearTimeout(t);
  }, [playing, step, total]);

  const play = () => {
    if (step >= total) setStep(0);
    setPlaying(true);
  };
  // ← and → step through the replay, Home and End jump to its ends (not while typing in a field).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)) && !(t instanceof HTMLInputElement && t.type === 'range')) return;
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const next = e.key === 'ArrowLeft' ? step - 1 : e.key === 'ArrowRight' ? step + 1 : e.key === 'Home' ? 0 : e.key === 'End' ? total : null;
      if (next === null || t instanceof HTMLInputElement) return;
      e.preventDefault();
      setPlaying(false);
      setStep(Math.max(0, Math.min(total, next)));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [step, total]);
  const current = path ? stateAfter(path, step) : undefined;
  const at = step > 0 ? steps[step - 1] : undefined;
  const late = graph.edges.filter((e) => e.source === '*');

  return (
    // On a wide screen the path, replay and event sit docked beside the chart, not below the fold.
    <div className={saga ? 'saga-view docked' : 'saga-view'}>
      <div className="card chart-card">
        <SagaChart graph={graph} layout={layout} path={path} step={step} counts={counts} />
        <Legend />
        {late.length ? (
          <p className="late-note small muted">
            In any state:{' '}
            {late.map((e, i) => (
              <span key={e.id}>
                {i > 0 ? '; ' : ''}a late <code>{e.events.join(' / ')}</code>
                {e.guard ? ` [${e.guard}]` : ''} is compensated{e.commands.length ? <> with <code>{e.commands.join(', ')}</code></> : null}
              </span>
            ))}
            . Timeouts that retry stay in their state (↻ on the node).
          </p>
        ) : null}
      </div>
      {saga ? (
        <div className="card replay" data-testid="saga-replay">
          <div className="replay-head">
            <div>
              Order{' '}
              <Link to={`/orders/${encodeURIComponent(saga.orderId)}`}>
                <code>{shortId(saga.orderId)}</code>
              </Link>{' '}
              <StatusBadge status={saga.status} testId="saga-instance-status" /> now in <code data-testid="saga-instance-state">{saga.state}</code>
              {saga.flags?.length ? <span className="muted"> · flags: {saga.flags.join(', ')}</span> : null}
            </div>
            <div className="replay-controls" role="group" aria-label="Replay">
              <button type="button" className="button small" onClick={() => setStep(0)} disabled={step === 0} data-testid="replay-first">
                « First
              </button>
              <button type="button" className="button small" onClick={() => setStep((s) => Math.max(0, s - 1))} disabled={step === 0} data-testid="replay-prev">
                ◀ Prev
              </button>
              {playing ? (
                <button type="button" className="button small" onClick={() => setPlaying(false)} data-testid="replay-pause">
                  ❚❚ Pause
                </button>
              ) : (
                <button type="button" className="button small primary" onClick={play} disabled={total === 0} data-testid="replay-play">
                  ▶ Play
                </button>
              )}
              <button
                type="button"
                className="button small"
                onClick={() => setStep((s) => Math.min(total, s + 1))}
                disabled={step >= total}
                data-testid="replay-next"
              >
                Next ▶
              </button>
              <button type="button" className="button small" onClick={() => setStep(total)} disabled={step >= total} data-testid="replay-last">
                Last »
              </button>
            </div>
          </div>
          <input
            type="range"
            className="replay-slider"
            min={0}
            max={total}
            value={step}
            onChange={(e) => {
              setPlaying(false);
              setStep(Number(e.target.value));
            }}
            aria-label="Replay step"
            data-testid="replay-slider"
          />
          <p className="replay-status" aria-live="polite" data-testid="replay-status">
            Step {step} of {total} <span className="muted small">(← → to step)</span>: {at ? <><code>{at.event}</code> took it from {at.from} to </> : 'began in '}
            <strong>{current}</strong>
            {at ? <span className="muted"> at {clockTime(at.at)} (+{duration(at.elapsedMs)})</span> : null}
          </p>
          <div className="table-wrap">
            <table className="table compact steps" data-testid="saga-path">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Input</th>
                  <th scope="col">From → to</th>
                  <th scope="col">At</th>
                  <th scope="col" className="num">
                    Since start
                  </th>
                  <th scope="col" className="num">
                    Stayed
                  </th>
                </tr>
              </thead>
              <tbody>
                {steps.map((s) => (
                  <tr
                    key={s.index}
                    className={s.index === step - 1 ? 'active' : s.index >= step ? 'future' : undefined}
                    onClick={() => setStep(s.index + 1)}
                  >
                    <td>{s.index + 1}</td>
                    <td>
                      <code>{s.event}</code>
                      {s.edgeId ? null : <span className="warn" title="not in the definition"> *</span>}
                    </td>
                    <td>
                      {s.from} → <strong>{s.to}</strong>
                    </td>
                    <td>{clockTime(s.at)}</td>
                    <td className="num">{duration(s.elapsedMs)}</td>
                    <td className="num">{duration(s.durationMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : (
        <p className="muted">Pick an instance to draw its path and replay it step by step.</p>
      )}
    </div>
  );
}

function Legend() {
  return (
    <ul className="legend" aria-label="Legend">
      <li>
        <span className="swatch node-current" /> current state
      </li>
      <li>
        <span className="swatch node-visited" /> visited
      </li>
      <li>
        <span className="swatch edge-path" /> path taken (step numbers)
      </li>
      <li>
        <span className="swatch edge-compensation" /> compensation
      </li>
      <li>
        <span className="swatch edge-timeout" /> timeout
      </li>
      <li>
        <span className="swatch count" /> instances now in state / ×times taken
      </li>
    </ul>
  );
}

function StepTable({ graph }: { graph: SagaGraph }) {
  return (
    <section className="card" aria-labelledby="steps-title">
      <h2 id="steps-title">Steps</h2>
      <p className="muted small">
        The step table the machine is built from
        {graph.stepTimeoutMs !== undefined ? `; every waiting step times out after ${duration(graph.stepTimeoutMs)}` : ''}.
      </p>
      <div className="table-wrap">
        <table className="table compact" data-testid="saga-steps">
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">State</th>
              <th scope="col">Command</th>
              <th scope="col">Success / failure</th>
              <th scope="col">Compensation</th>
              <th scope="col">On timeout</th>
            </tr>
          </thead>
          <tbody>
            {graph.steps.map((s, i) => (
              <tr key={i}>
                <td>{s.name}</td>
                <td>{s.state ?? <span className="muted">any</span>}</td>
                <td>{s.command ? <code>{s.command}</code> : '–'}</td>
                <td>
                  {s.success ? <code>{s.success}</code> : '–'}
                  {s.failure ? (
                    <>
                      {' / '}
                      <code>{s.failure}</code>
                    </>
                  ) : null}
                </td>
                <td>{s.compensation ?? '–'}</td>
                <td>{s.onTimeout ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Drill-down from the heatmap: the instances in one state now, a page at a time. */
function InStateList({ stats }: { stats: SagaStats }) {
  const { api } = useSession();
  const states = Object.entries(stats.states).sort((a, b) => b[1] - a[1]);
  const [state, setState] = useState('');
  const [cursor, setCursor] = useState<string | null>(null);
  const page = useResource(() => (state ? api.sagasInState(state, cursor) : Promise.resolve(undefined)), [state, cursor]);
  return (
    <div className="in-state" data-testid="saga-in-state">
      <label className="inline-field">
        In state{' '}
        <select
          value={state}
          onChange={(e) => {
            setState(e.target.value);
            setCursor(null);
          }}
          data-testid="saga-in-state-select"
        >
          <option value="">pick a state</option>
          {states.map(([name, n]) => (
            <option key={name} value={name}>
              {name} ({n.toLocaleString()})
            </option>
          ))}
        </select>
      </label>
      <ProblemBox error={page.error} onRetry={page.reload} />
      {page.data ? (
        <ul className="instance-list">
          {page.data.items.map((i) => (
            <li key={i.orderId}>
              <Link to={`/sagas/${encodeURIComponent(i.orderId)}`} title={i.orderId}>
                <code>{shortId(i.orderId)}</code>
              </Link>{' '}
              <span className="muted small">
                since <TimeOf at={i.since} />
              </span>
            </li>
          ))}
        </ul>
      ) : null}
      {page.data?.nextCursor ? (
        <button type="button" className="button small" onClick={() => setCursor(page.data!.nextCursor)}>
          More
        </button>
      ) : null}
    </div>
  );
}
