import { useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, type RecordedEvent, type SagaDefinitionVersion, type SagaInstance, type SagaStats, type WhatIfResult } from '../api';
import { useSession } from '../session';
import { useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { clockTime, duration, shortId } from '../format';
import { hashParam, Link, setHashParam } from '../router';
import { adaptDefinition, DefinitionError, type SagaGraph } from '../saga/definition';
import { countsFromStats, instancePath, stateAfter, type Counts, type InstancePath } from '../saga/instance';
import type { Layout } from '../saga/layout';
import { SagaChart } from '../saga/SagaChart';
import { Empty, JsonView, PageHeader, ProblemBox, Spinner, StatusBadge, TimeOf } from '../components/ui';
import { OpenById } from '../components/OpenById';
import { ListFilterBar, useListFilters } from '../components/ListFilters';
import { SagaOperator } from '../components/SagaOperator';
import { compare } from '../saga/whatif';
import { concernsOrder } from './OrderDetailPage';
import { importFresh } from '../chunks';

const sagaStatuses = ['running', 'completed', 'rejected', 'cancelled'] as const;

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
function useSagaGraph(version: number | undefined) {
  const { api } = useSession();
  const raw = useResource(() => api.sagaDefinition(version), [version]);
  const [graph, setGraph] = useState<SagaGraph>();
  const [layout, setLayout] = useState<Layout>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    setLayout(undefined);
    setError(undefined);
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
  const selected = useResource<SagaInstance | undefined>(() => (orderId ? api.saga(orderId) : Promise.resolve(undefined)), [orderId]);
  // The definition versions (issue 14): a server without them answers 404, and then there is one definition.
  const definitions = useResource(() => (isAdmin ? api.sagaDefinitions().catch(() => undefined) : Promise.resolve(undefined)), [isAdmin]);
  const versions = definitions.data?.items;
  // Which definition is drawn: `?version=` in the URL, else the selected saga's own, else the newest.
  const [pickedVersion, setPickedVersion] = useState<number | undefined>(() => {
    const v = hashParam('version');
    return v && /^\d+$/.test(v) ? Number(v) : undefined;
  });
  const version = versions || selected.data?.version !== undefined ? (pickedVersion ?? selected.data?.version) : undefined;
  useEffect(() => setHashParam('version', pickedVersion === undefined ? null : String(pickedVersion)), [pickedVersion]);
  const { graph, layout, error, loading, reload } = useSagaGraph(version);
  const [showCounts, setShowCounts] = useState(true);
  const [pickedState, setPickedState] = useState('');

  // Exact counts from the server's saga-stats projection: one small answer, not every history.
  const stats = useResource(() => (isAdmin ? api.sagaStats(version) : Promise.resolve(undefined)), [isAdmin, version]);
  // One page of instances at a time; `trail` holds the cursors of the pages before it.
  const { filters, setFilters, query, key } = useListFilters();
  const [cursor, setCursor] = useState<string | null>(null);
  const [trail, setTrail] = useState<(string | null)[]>([]);
  useEffect(() => {
    setCursor(null);
    setTrail([]);
  }, [key]);
  const list = useResource(
    () => (isAdmin ? api.sagas({ ...query, cursor, limit: 50 }) : Promise.resolve(undefined)),
    [key, isAdmin, cursor],
  );

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
        {versions?.length ? (
          <label className="inline-field">
            Definition{' '}
            <select
              value={version ?? ''}
              onChange={(e) => setPickedVersion(e.target.value ? Number(e.target.value) : undefined)}
              data-testid="definition-version"
            >
              {[...versions]
                .sort((a, b) => b.version - a.version)
                .map((d) => (
                  <option key={d.version} value={d.version}>
                    v{d.version} · {d.running.toLocaleString()} running{d.version === selected.data?.version ? ' · this saga’s' : ''}
                  </option>
                ))}
            </select>
          </label>
        ) : null}
        {isAdmin ? (
          <label className="inline-field">
            <input type="checkbox" checked={showCounts} onChange={(e) => setShowCounts(e.target.checked)} data-testid="toggle-counts" /> heatmap of all{' '}
            <strong data-testid="saga-total">{stats.data ? stats.data.total.toLocaleString() : '…'}</strong> instances{version !== undefined ? ` on v${version}` : ''}
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
          {isAdmin ? <ListFilterBar filters={filters} onChange={setFilters} statuses={sagaStatuses} showCustomer testId="saga-filter" /> : null}
          <ProblemBox error={list.error ?? stats.error} onRetry={() => (list.reload(), stats.reload())} />
          {!isAdmin ? <p className="muted small">Open a saga from one of your orders; the list of all instances and their counts are for admins.</p> : null}
          {list.data && sagas.length === 0 ? <Empty>No sagas match.</Empty> : null}
          <ul className="instance-list" data-testid="saga-instances">
            {sagas.map((s) => (
              <li key={s.orderId} className={s.orderId === orderId ? 'selected' : undefined}>
                <Link to={`/sagas/${encodeURIComponent(s.orderId)}`} title={s.orderId} data-testid={`saga-instance-${s.orderId}`}>
                  <code>{shortId(s.orderId)}</code>
                </Link>{' '}
                <StatusBadge status={s.status} />
                {s.state !== s.status ? <span className="muted"> {s.state}</span> : null}
                {s.stuck ? <span className="badge badge-stuck">stuck</span> : null}
                {s.version !== undefined ? <span className="muted small"> v{s.version}</span> : null}
                <div className="muted small">
                  {s.customerEmail ? (
                    <button type="button" className="link-button" onClick={() => setFilters({ ...filters, customer: s.customerEmail! })} title="only this customer’s sagas">
                      {s.customerEmail}
                    </button>
                  ) : null}
                </div>
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
          {isAdmin && stats.data ? <InStateList stats={stats.data} state={pickedState} onState={setPickedState} /> : null}
        </aside>
        <section className="saga-main" aria-label="Statechart">
          {graph && layout ? (
            <SagaView
              key={selected.data?.orderId ?? 'none'}
              graph={graph}
              layout={layout}
              saga={selected.data}
              path={path}
              counts={counts}
              isAdmin={isAdmin}
              definitions={versions}
              onPickState={isAdmin ? setPickedState : undefined}
              onChanged={selected.reload}
            />
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
  isAdmin,
  definitions,
  onPickState,
  onChanged,
}: {
  graph: SagaGraph;
  layout: Layout;
  saga: SagaInstance | undefined;
  path: InstancePath | undefined;
  counts: Counts | undefined;
  isAdmin: boolean;
  definitions: SagaDefinitionVersion[] | undefined;
  onPickState: ((state: string) => void) | undefined;
  onChanged: () => void;
}) {
  const [whatIfResult, setWhatIfResult] = useState<WhatIfResult>();
  const whatIf = useMemo(() => (whatIfResult ? compare(graph, whatIfResult) : undefined), [graph, whatIfResult]);
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
      if (e.key === ' ' && !(t instanceof HTMLInputElement) && !(t instanceof HTMLButtonElement) && !t?.closest?.('.react-flow__node')) {
        e.preventDefault();
        setPlaying((p) => (p ? false : (step >= total && setStep(0), total > 0)));
        return;
      }
      const next = e.key === 'ArrowLeft' ? step - 1 : e.key === 'ArrowRight' ? step + 1 : e.key === 'Home' ? 0 : e.key === 'End' ? total : null;
      if (next === null || t instanceof HTMLInputElement) return;
      e.preventDefault();
      setPlaying(false);
      setStep(Math.max(0, Math.min(total, next)));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [step, total]);
  // A what-if answer opens the replay where the two paths part.
  useEffect(() => {
    if (whatIfResult?.divergesAt == null) return;
    setPlaying(false);
    setStep(Math.min(whatIfResult.divergesAt, total));
    // Once per answer: a live update of the saga does not move the replay back.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [whatIfResult]);
  const current = path ? stateAfter(path, step) : undefined;
  const at = step > 0 ? steps[step - 1] : undefined;
  const late = graph.edges.filter((e) => e.source === '*');

  return (
    // On a wide screen the path, replay and event sit docked beside the chart, not below the fold.
    <div className={saga ? 'saga-view docked' : 'saga-view'}>
      <div className="card chart-card">
        <SagaChart
          graph={graph}
          layout={layout}
          path={path}
          step={step}
          counts={counts}
          whatIf={whatIf}
          onPickStep={(k) => {
            setPlaying(false);
            setStep(k);
          }}
          onPickState={(state) => {
            onPickState?.(state);
            // With an instance, picking a state it went through replays to the step that entered it.
            const k = steps.findIndex((s) => s.to === state);
            if (k >= 0) {
              setPlaying(false);
              setStep(k + 1);
            } else if (path?.start === state) setStep(0);
          }}
        />
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
            Step {step} of {total} <span className="muted small">(← → to step, space to play)</span>: {at ? <><code>{at.event}</code> took it from {at.from} to </> : 'began in '}
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
                      {s.operator ? (
                        <div className="muted small" data-testid={`saga-path-operator-${s.index}`}>
                          {s.operator.action} by {s.operator.id}: “{s.operator.reason}”
                        </div>
                      ) : null}
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
          <StepEvent orderId={saga.orderId} step={step} historyLength={saga.history.length} />
          {isAdmin ? <SagaOperator saga={saga} definitions={definitions} onWhatIf={setWhatIfResult} onChanged={onChanged} /> : null}
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
function InStateList({ stats, state, onState }: { stats: SagaStats; state: string; onState: (state: string) => void }) {
  const { api } = useSession();
  const states = Object.entries(stats.states).sort((a, b) => b[1] - a[1]);
  const [cursor, setCursor] = useState<string | null>(null);
  useEffect(() => setCursor(null), [state]);
  const page = useResource(() => (state ? api.sagasInState(state, cursor) : Promise.resolve(undefined)), [state, cursor]);
  return (
    <div className="in-state" data-testid="saga-in-state">
      <label className="inline-field">
        In state{' '}
        <select
          value={state}
          onChange={(e) => onState(e.target.value)}
          data-testid="saga-in-state-select"
        >
          <option value="">pick a state (or click its node)</option>
          {state && !(state in stats.states) ? <option value={state}>{state} (0)</option> : null}
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

/**
 * The saga's own event for a replay step, as the event store has it: step 0 is SagaStarted,
 * step k the k-th SagaTransitioned or SagaMigrated. Read once per change of the history, not per step.
 */
function StepEvent({ orderId, step, historyLength }: { orderId: string; step: number; historyLength: number }) {
  const { api } = useSession();
  const streamId = `saga-${orderId}`;
  const events = useResource(() => api.streamEvents(streamId, { direction: 'forwards', limit: 500 }), [streamId, historyLength]);
  const all: RecordedEvent[] = events.data?.events ?? [];
  const started = all.find((e) => e.type === 'SagaStarted');
  // A migration is a step of the path too (the sagas projection lists it in the history).
  const moves = all.filter((e) => e.type === 'SagaTransitioned' || e.type === 'SagaMigrated');
  const event = step === 0 ? started : moves[step - 1];
  return (
    <details className="step-event" open data-testid="saga-step-event">
      <summary>
        Event of step {step}
        {event ? (
          <>
            {': '}
            <a href={`#/events/${encodeURIComponent(streamId)}?rev=${event.revision}`}>
              <code>
                {event.type} r{event.revision}
              </code>
            </a>
          </>
        ) : null}
      </summary>
      <ProblemBox error={events.error} onRetry={events.reload} />
      {event ? <JsonView value={{ data: event.data, metadata: event.metadata }} testId="saga-step-event-json" /> : events.loading ? <Spinner label="Reading the saga stream" /> : <p className="muted small">Not in the stream yet.</p>}
    </details>
  );
}
