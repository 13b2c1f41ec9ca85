import { useEffect, useMemo, useState, type CSSProperties } from 'react';
import {
  Background,
  BaseEdge,
  Controls,
  EdgeLabelRenderer,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  getBezierPath,
  type Edge,
  type EdgeProps,
  type Node,
  type NodeProps,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { drawn, edgeLabel, type SagaGraph } from './definition';
import { stateAfter, type Counts, type InstancePath } from './instance';
import { nodeHeight, nodeWidth, roundedPath, type Layout, type Point } from './layout';
import { duration } from '../format';
import type { Comparison } from './whatif';

type StateData = {
  label: string;
  kind: string;
  status?: string;
  description?: string;
  timeoutMs?: number;
  onTimeout?: string;
  pivot?: boolean;
  current: boolean;
  visited: boolean;
  /** Total time the instance spent here (up to the replay step). */
  spentMs?: number;
  /** Times the instance stayed here through a retry or a late compensation. */
  loops?: number;
  count?: number;
  /** count / the busiest state's count: the heatmap's colour intensity. */
  heat?: number;
  /** On the what-if replay's path; `diverge` where it leaves the recorded one. */
  whatIf?: boolean;
  diverge?: 'replayed' | 'original';
};

type TransitionData = {
  label: string;
  points?: Point[];
  labelAt?: Point;
  kind: string;
  onPath: boolean;
  latest: boolean;
  /** 1-based step numbers of the instance that took this edge. */
  steps: number[];
  count?: number;
  heat?: number;
  extra?: boolean;
  /** 1-based step numbers of the what-if replay on this edge. */
  whatIfSteps?: number[];
};

type StateNode = Node<StateData, 'state'>;
type TransitionEdge = Edge<TransitionData, 'transition'>;

function StateNodeView({ data, id }: NodeProps<StateNode>) {
  const classes = ['saga-node', `kind-${data.kind}`];
  if (data.status) classes.push(`status-${data.status}`);
  if (data.current) classes.push('current');
  else if (data.visited) classes.push('visited');
  if (data.heat !== undefined && data.heat > 0) classes.push('heat');
  if (data.whatIf) classes.push('whatif');
  if (data.diverge) classes.push(`diverge-${data.diverge}`);
  return (
    <div
      className={classes.join(' ')}
      title={data.description ?? id}
      data-testid={`saga-node-${id}`}
      data-current={data.current || undefined}
      data-whatif={data.whatIf || undefined}
      data-diverge={data.diverge}
      data-heat={data.heat !== undefined ? data.heat.toFixed(2) : undefined}
      style={data.heat ? ({ '--heat': `${Math.round(15 + data.heat * 65)}%` } as CSSProperties) : undefined}
    >
      <Handle type="target" position={Position.Top} className="saga-handle" isConnectable={false} />
      <div className="saga-node-label">
        {data.label}
        {data.pivot ? <span className="pivot" title="pivot: after it the saga only goes forward"> ◆</span> : null}
      </div>
      {data.diverge === 'replayed' ? <div className="diverge-note">what-if goes here</div> : data.diverge === 'original' ? <div className="diverge-note">recorded went here</div> : null}
      <div className="saga-node-meta">
        {data.timeoutMs !== undefined ? (
          <span title="step timeout, and what happens when it fires">
            timeout {duration(data.timeoutMs)}
            {data.onTimeout ? ` → ${data.onTimeout}` : ''}
          </span>
        ) : null}
        {data.spentMs !== undefined ? (
          <span className="spent" title="time the instance spent in this state">
            {duration(data.spentMs)}
          </span>
        ) : null}
        {data.loops ? <span className="spent">↻{data.loops}</span> : null}
      </div>
      {data.count ? (
        <span className="saga-count" title={`${data.count} instance(s) in this state now`} data-testid={`saga-count-${id}`}>
          {data.count.toLocaleString()}
        </span>
      ) : null}
      <Handle type="source" position={Position.Bottom} className="saga-handle" isConnectable={false} />
    </div>
  );
}

function TransitionEdgeView(props: EdgeProps<TransitionEdge>) {
  const { data, id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, markerEnd } = props;
  let path: string;
  let lx: number;
  let ly: number;
  if (data?.points && data.points.length >= 2) {
    path = roundedPath(data.points);
    const mid = data.labelAt ?? data.points[Math.floor(data.points.length / 2)]!;
    lx = mid.x;
    ly = mid.y;
  } else {
    [path, lx, ly] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  }
  const classes = ['saga-edge', `kind-${data?.kind ?? 'forward'}`];
  if (data?.onPath) classes.push('on-path');
  if (data?.latest) classes.push('latest');
  if (data?.extra) classes.push('extra');
  if (data?.whatIfSteps?.length) classes.push('on-whatif');
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        className={classes.join(' ')}
        style={data?.heat ? { strokeWidth: 1.5 + data.heat * 5, stroke: data.onPath ? undefined : `rgb(234 88 12 / ${0.35 + data.heat * 0.65})` } : undefined}
      />
      <EdgeLabelRenderer>
        <div
          className={`saga-edge-label ${classes.join(' ')}`}
          style={{ transform: `translate(-50%, -50%) translate(${lx}px, ${ly}px)` }}
          data-testid={`saga-edge-${id}`}
        >
          {data?.steps.length ? <span className="step-no">{data.steps.join(',')}</span> : null}
          {data?.whatIfSteps?.length ? (
            <span className="step-no whatif-no" title="steps of the what-if replay">
              {data.whatIfSteps.map((n) => `w${n}`).join(',')}
            </span>
          ) : null}
          {data?.label}
          {data?.count ? (
            <span className="edge-count" title={`taken ${data.count} time(s) across all instances`} data-testid={`saga-edge-count-${id}`}>
              ×{data.count.toLocaleString()}
            </span>
          ) : null}
        </div>
      </EdgeLabelRenderer>
    </>
  );
}

/** Arrowheads take their colour from here (SVG markers can't read the edge's CSS). */
function edgeColor(kind: string, onPath: boolean): string {
  if (onPath) return '#2458d6';
  if (kind === 'compensation') return '#c0262d';
  if (kind === 'timeout') return '#a15c00';
  return '#9aa3b0';
}

const nodeTypes = { state: StateNodeView };
const edgeTypes = { transition: TransitionEdgeView };

export interface SagaChartProps {
  graph: SagaGraph;
  layout: Layout;
  /** The selected instance's path, and how many of its steps to draw (the replay position). */
  path?: InstancePath;
  step?: number;
  counts?: Counts;
  /** A what-if replay to draw beside the recorded path. */
  whatIf?: Comparison;
  /** On a phone, where the instance's steps replace the chart: a step picked from that list. */
  onPickStep?: (step: number) => void;
  /** A state picked by click or Enter on its node (focusable, in tab order). */
  onPickState?: (state: string) => void;
}

/** Edge labels are 12 px and node labels 13 px: at this zoom both are 11 px or more on screen. */
const READABLE_ZOOM = 0.92;

function useNarrow(): boolean {
  const query = '(max-width: 700px)';
  const [narrow, setNarrow] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const m = window.matchMedia(query);
    const on = () => setNarrow(m.matches);
    m.addEventListener('change', on);
    return () => m.removeEventListener('change', on);
  }, []);
  return narrow;
}

/** On a phone the chart would be 4 px text: the states as a list instead, with the same marks and counts. */
function StateList({ graph, current, visited, counts }: { graph: SagaGraph; current: string | undefined; visited: Set<string>; counts: Counts | undefined }) {
  return (
    <ol className="state-list" data-testid="saga-state-list" data-current-state={current ?? ''}>
      {graph.nodes.map((n) => {
        const out = graph.edges.filter((e) => e.source === n.id && e.target !== n.id && drawn(e));
        return (
          <li key={n.id} className={n.id === current ? 'current' : visited.has(n.id) ? 'visited' : undefined} data-current={n.id === current || undefined}>
            <div className="state-list-head">
              <strong>{n.label}</strong>
              {counts ? <span className="saga-count-inline">{(counts.states.get(n.id) ?? 0).toLocaleString()} now</span> : null}
            </div>
            {out.length ? (
              <ul className="muted small">
                {out.map((e) => (
                  <li key={e.id}>
                    {edgeLabel(e)} → {graph.nodes.find((x) => x.id === e.target)?.label ?? e.target}
                    {counts?.edges.get(e.id) ? ` ×${counts.edges.get(e.id)!.toLocaleString()}` : ''}
                  </li>
                ))}
              </ul>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}

/** On a phone, an instance's path as a vertical list of its steps: the replay's position marked, each one a button. */
function StepList({ path, step, whatIf, onPickStep }: { path: InstancePath; step: number; whatIf: Comparison | undefined; onPickStep: ((k: number) => void) | undefined }) {
  const rows = [{ k: 0, label: 'began in', to: path.start, at: path.startedAt }, ...path.steps.map((s) => ({ k: s.index + 1, label: s.event, to: s.to, at: s.at }))];
  return (
    <ol className="step-list" data-testid="saga-step-list" data-current-state={stateAfter(path, step)}>
      {rows.map((r) => {
        const diverges = whatIf?.divergesAt === r.k;
        return (
          <li key={r.k} className={r.k === step ? 'current' : r.k < step ? 'visited' : 'future'} aria-current={r.k === step ? 'step' : undefined}>
            <button type="button" className="step-button" onClick={() => onPickStep?.(r.k)} data-testid={`saga-step-${r.k}`}>
              <span className="step-no">{r.k}</span> <code>{r.label}</code> → <strong>{r.to}</strong>
            </button>
            {diverges && whatIf ? (
              <div className="diverge-note" data-testid="saga-step-diverges">
                what-if parts here: {whatIf.replayed[r.k]?.state ?? 'ends'} instead of {whatIf.original[r.k]?.state ?? 'the end'}
              </div>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}

export function SagaChart({ graph, layout, path, step, counts, whatIf, onPickState, onPickStep }: SagaChartProps) {
  const narrow = useNarrow();
  const all = path?.steps;
  const at = step ?? all?.length ?? 0;
  const shown = useMemo(() => (all ? all.slice(0, at) : []), [all, at]);
  const current = path ? stateAfter(path, at) : undefined;

  const stateMax = counts ? Math.max(0, ...counts.states.values()) : 0;
  const edgeMax = counts ? Math.max(0, ...counts.edges.values()) : 0;
  const nodes = useMemo<StateNode[]>(() => {
    const visited = new Set<string>(path ? [path.start] : []);
    const spent = new Map<string, number>();
    const loops = new Map<string, number>();
    for (const s of shown) {
      visited.add(s.to);
      if (s.from === s.to) loops.set(s.to, (loops.get(s.to) ?? 0) + 1);
      // The last shown step's stay counts only at the live end (else it is still to come in the replay).
      if (s.durationMs !== undefined && (s.index < at - 1 || at === all?.length)) spent.set(s.to, (spent.get(s.to) ?? 0) + s.durationMs);
    }
    return graph.nodes.map((n) => {
      const box = layout.nodes.get(n.id);
      const data: StateData = { label: n.label, kind: n.kind, current: n.id === current, visited: visited.has(n.id) };
      if (n.status) data.status = n.status;
      if (n.description) data.description = n.description;
      if (n.timeoutMs !== undefined) data.timeoutMs = n.timeoutMs;
      if (n.onTimeout) data.onTimeout = n.onTimeout;
      if (n.pivot) data.pivot = true;
      const sp = spent.get(n.id);
      if (sp !== undefined) data.spentMs = sp;
      const lp = loops.get(n.id);
      if (lp) data.loops = lp;
      if (counts) {
        data.count = counts.states.get(n.id) ?? 0;
        data.heat = stateMax > 0 ? data.count / stateMax : 0;
      }
      if (whatIf?.replayedStates.has(n.id)) data.whatIf = true;
      if (whatIf?.divergeState === n.id) data.diverge = 'replayed';
      else if (whatIf?.originalState === n.id) data.diverge = 'original';
      const said = [
        `state ${n.label}`,
        n.id === current ? 'current' : visited.has(n.id) ? 'visited' : '',
        data.count !== undefined ? `${data.count} instance(s) here now` : '',
        data.diverge === 'replayed' ? 'the what-if replay goes here' : '',
      ].filter(Boolean);
      return {
        id: n.id,
        type: 'state',
        // In the tab order, so the chart can be read and picked from the keyboard (Enter picks).
        focusable: true,
        ariaLabel: said.join(', '),
        ariaRole: 'button',
        position: { x: box?.x ?? 0, y: box?.y ?? 0 },
        width: box?.width ?? nodeWidth(n.label),
        height: box?.height ?? nodeHeight,
        data,
        draggable: false,
        connectable: false,
      };
    });
  }, [graph, layout, path, shown, at, all, current, counts, stateMax, whatIf]);

  const edges = useMemo<TransitionEdge[]>(() => {
    const stepsByEdge = new Map<string, number[]>();
    const extra = new Map<string, TransitionEdge>();
    const latest = shown[shown.length - 1];
    for (const s of shown) {
      if (s.edgeId) stepsByEdge.set(s.edgeId, [...(stepsByEdge.get(s.edgeId) ?? []), s.index + 1]);
      else if (s.from !== s.to) {
        // A move the definition doesn't list (e.g. a newer machine): draw it anyway, marked.
        const id = `extra:${s.from}->${s.to}`;
        const prev = extra.get(id);
        extra.set(id, {
          id,
          type: 'transition',
          source: s.from,
          target: s.to,
          markerEnd: { type: MarkerType.ArrowClosed, width: 12, height: 12, color: edgeColor('forward', true) },
          data: { label: s.event, kind: 'forward', onPath: true, latest: s === latest, steps: [...(prev?.data?.steps ?? []), s.index + 1], extra: true },
        });
      }
    }
    const listed = graph.edges.filter(drawn).map((e): TransitionEdge => {
      const route = layout.edges.get(e.id);
      const steps = stepsByEdge.get(e.id) ?? [];
      const data: TransitionData = { label: edgeLabel(e), kind: e.kind, onPath: steps.length > 0, latest: e.id === latest?.edgeId, steps };
      if (route) {
        data.points = route.points;
        if (route.label) data.labelAt = route.label;
      }
      if (counts) {
        data.count = counts.edges.get(e.id) ?? 0;
        data.heat = edgeMax > 0 ? data.count / edgeMax : 0;
      }
      const w = whatIf?.replayedEdges.get(e.id);
      if (w) data.whatIfSteps = w;
      return {
        id: e.id,
        type: 'transition',
        source: e.source,
        target: e.target,
        // Edges are read through their nodes: out of the tab order, but named by their event.
        focusable: false,
        ariaLabel: `${edgeLabel(e)}: from ${e.source} to ${e.target}`,
        // Path edges are drawn thicker; a smaller marker keeps their arrowheads the same size.
        markerEnd: { type: MarkerType.ArrowClosed, width: steps.length ? 12 : 16, height: steps.length ? 12 : 16, color: edgeColor(e.kind, steps.length > 0) },
        data,
        zIndex: steps.length ? 2 : 1,
      };
    });
    const known = new Set(graph.nodes.map((n) => n.id));
    return [...listed, ...[...extra.values()].filter((e) => known.has(e.source) && known.has(e.target))];
  }, [graph, layout, shown, counts, edgeMax, whatIf]);
  const focus = path && current ? [{ id: current }] : [];
  if (narrow && path) return <StepList path={path} step={at} whatIf={whatIf} onPickStep={onPickStep} />;
  if (narrow) return <StateList graph={graph} current={current} visited={new Set(nodes.filter((n) => n.data.visited).map((n) => n.id))} counts={counts} />;
  return (
    <div
      className="saga-chart"
      // Tall enough that a big machine is readable once fitted to the width.
      style={{ height: `min(${Math.round(Math.max(480, layout.height * 0.95))}px, calc(100vh - 120px))` }}
      data-testid="saga-chart"
      data-current-state={current ?? ''}
      onKeyDown={(e) => {
        const node = (e.target as HTMLElement).closest?.('.react-flow__node');
        const id = node?.getAttribute('data-id');
        if (id && onPickState && (e.key === 'Enter' || e.key === ' ')) {
          e.preventDefault();
          e.stopPropagation();
          onPickState(id);
        }
      }}
    >
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        fitView
        // Never fitted below the zoom at which labels read at 11 px or more; pan for the rest.
        // With an instance, centre its current state at the readable zoom, not the whole machine.
        fitViewOptions={{ padding: 0.08, minZoom: READABLE_ZOOM, ...(focus.length ? { nodes: focus, maxZoom: READABLE_ZOOM } : {}) }}
        minZoom={0.3}
        maxZoom={2}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        onNodeClick={onPickState ? (_, node) => onPickState(node.id) : undefined}
        proOptions={{ hideAttribution: false }}
      >
        <Background gap={24} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
