import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { ApiError, allPages, type SagaInstance } from '../api';
import { useSession } from '../session';
import { useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { clockTime, duration, shortId } from '../format';
import { Link, navigate } from '../router';
import { adaptDefinition, DefinitionError, type SagaGraph } from '../saga/definition';
import { countInstances, instancePath, stateAfter } from '../saga/instance';
import type { Layout } from '../saga/layout';
import { SagaChart } from '../saga/SagaChart';
import { Empty, PageHeader, ProblemBox, Spinner, StatusBadge } from '../components/ui';
import { concernsOrder } from './OrderDetailPage';

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
      import('../saga/elk').then(({ layoutGraph }) => layoutGraph(g)).then(
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
  const { api } = useSession();
  const { graph, layout, error, loading, reload } = useSagaGraph();
  const [status, setStatus] = useState('');
  const [showCounts, setShowCounts] = useState(true);

  const all = useResource(() => allPages((cursor) => api.sagas({ status, cursor, limit: 200 }), 10), [status]);
  const selected = useResource<SagaInstance | undefined>(() => (orderId ? api.saga(orderId) : Promise.resolve(undefined)), [orderId]);

  const reloadAll = useThrottled(all.reload, 1000);
  const reloadSelected = useThrottled(selected.reload, 200);
  useLive(['saga', 'order', 'event'], (msg) => {
    reloadAll();
    if (orderId && concernsOrder(msg, orderId)) reloadSelected();
  });

  const sagas = all.data?.items ?? [];
  const counts = useMemo(() => (graph && showCounts ? countInstances(graph, sagas) : undefined), [graph, sagas, showCounts]);
  const path = useMemo(() => (graph && selected.data ? instancePath(graph, selected.data) : []), [graph, selected.data]);

  return (
    <div className="saga-page">
      <PageHeader title="Saga visualiser">
        <label className="inline-field">
          <input type="checkbox" checked={showCounts} onChange={(e) => setShowCounts(e.target.checked)} data-testid="toggle-counts" /> counts across{' '}
          {all.data ? `${sagas.length}${all.data.complete ? '' : '+'}` : '…'} instances
        </label>
        {loading || all.loading ? <Spinner label={loading ? 'Laying out the machine' : 'Counting instances'} /> : null}
      </PageHeader>
      <ProblemBox error={error} onRetry={reload} />
      <div className="saga-layout">
        <aside className="card saga-instances" aria-labelledby="instances-title">
          <h2 id="instances-title">Instances</h2>
          <OpenById current={orderId} />
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
          <ProblemBox error={all.error} onRetry={all.reload} />
          {all.data && sagas.length === 0 ? <Empty>No sagas yet.</Empty> : null}
          <ul className="instance-list" data-testid="saga-instances">
            {sagas.slice(0, 200).map((s) => (
              <li key={s.orderId} className={s.orderId === orderId ? 'selected' : undefined}>
                <Link to={`/sagas/${encodeURIComponent(s.orderId)}`} title={s.orderId} data-testid={`saga-instance-${s.orderId}`}>
                  <code>{shortId(s.orderId)}</code>
                </Link>{' '}
                <StatusBadge status={s.status} /> <span className="muted">{s.state}</span>
              </li>
            ))}
          </ul>
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

function OpenById({ current }: { current: string | undefined }) {
  const [value, setValue] = useState(current ?? '');
  useEffect(() => {
    setValue(current ?? '');
  }, [current]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) navigate(`/sagas/${encodeURIComponent(value.trim())}`);
  };
  return (
    <form onSubmit={submit} className="open-by-id">
      <label htmlFor="saga-order-id">Order id</label>
      <div className="row">
        <input id="saga-order-id" className="text" value={value} onChange={(e) => setValue(e.target.value)} placeholder="order id" />
        <button type="submit" className="button small">
          Open
        </button>
      </div>
    </form>
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
  path: ReturnType<typeof instancePath>;
  counts: ReturnType<typeof countInstances> | undefined;
}) {
  const [step, setStep] = useState(path.length);
  const [playing, setPlaying] = useState(false);
  // Follow the live end unless the user has stepped back into the past.
  const atEnd = useRef(true);
  useEffect(() => {
    if (atEnd.current) setStep(path.length);
  }, [path.length]);
  useEffect(() => {
    atEnd.current = step >= path.length;
  }, [step, path.length]);
  useEffect(() => {
    if (!playing) return;
    if (step >= path.length) {
      setPlaying(false);
      return;
    }
    const t = setTimeout(() => setStep((s) => s + 1), 800);
    return () => clearTimeout(t);
  }, [playing, step, path.length]);

  const play = () => {
    if (step >= path.length) setStep(0);
    setPlaying(true);
  };
  const current = saga ? stateAfter(graph, path, step) : undefined;
  const at = step > 0 ? path[step - 1] : undefined;

  return (
    <>
      <div className="card chart-card">
        <SagaChart graph={graph} layout={layout} path={saga ? path : []} step={saga ? step : 0} counts={counts} />
        <Legend />
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
              <button type="button" className="button small" onClick={() => setStep(0)} disabled={step === 0} >
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
                <button type="button" className="button small primary" onClick={play} disabled={path.length === 0} data-testid="replay-play">
                  ▶ Play
                </button>
              )}
              <button
                type="button"
                className="button small"
                onClick={() => setStep((s) => Math.min(path.length, s + 1))}
                disabled={step >= path.length}
                data-testid="replay-next"
              >
                Next ▶
              </button>
              <button type="button" className="button small" onClick={() => setStep(path.length)} disabled={step >= path.length} >
                Last »
              </button>
            </div>
          </div>
          <input
            type="range"
            className="replay-slider"
            min={0}
            max={path.length}
            value={step}
            onChange={(e) => {
              setPlaying(false);
              setStep(Number(e.target.value));
            }}
            aria-label="Replay step"
            data-testid="replay-slider"
          />
          <p className="replay-status" aria-live="polite" data-testid="replay-status">
            Step {step} of {path.length}: {at ? <><code>{at.event}</code> took it from {at.from} to </> : 'began in '}
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
                {path.map((s) => (
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
    </>
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
      <div className="table-wrap">
      <table className="table compact" data-testid="saga-steps">
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">State</th>
            <th scope="col">Command</th>
            <th scope="col">Compensation</th>
            <th scope="col" className="num">
              Timeout
            </th>
          </tr>
        </thead>
        <tbody>
          {graph.steps.map((s, i) => (
            <tr key={i}>
              <td>{s.name}</td>
              <td>{s.state ?? '–'}</td>
              <td>{s.command ? <code>{s.command}</code> : '–'}</td>
              <td>{s.compensation ? <code>{s.compensation}</code> : '–'}</td>
              <td className="num">{s.timeoutMs !== undefined ? duration(s.timeoutMs) : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </section>
  );
}
