import type { SagaHistoryEntry, SagaInstance, SagaStats } from '../api';
import { findEdge, resolveState, type SagaGraph } from './definition';

/** One transition an instance took, placed on the graph, with how long it then stayed. */
export interface PathStep {
  index: number;
  from: string;
  to: string;
  event: string;
  at: string;
  /** The definition's edge it followed; undefined when the definition has no such edge. */
  edgeId?: string;
  /** Time spent in `to` before the next step (or until now while the saga still runs there). */
  durationMs?: number;
  /** Time from the saga's start to this step. */
  elapsedMs: number;
  /** The operator behind it, when it was an operator's action or a migration. */
  operator?: { id: string; action: string; reason: string };
}

export interface InstancePath {
  /** Where the saga began (the target of its start entry, whose `from` is null). */
  start: string;
  startedAt?: string;
  steps: PathStep[];
}

export function inputType(input: SagaHistoryEntry['input']): string {
  if (typeof input === 'string') return input;
  return input && typeof input === 'object' && typeof input.type === 'string' ? input.type : '?';
}

function time(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

const stateOf = (graph: SagaGraph, name: string) => resolveState(graph, name) ?? name;

export function instancePath(
  graph: SagaGraph,
  saga: Pick<SagaInstance, 'history' | 'status' | 'state'> & { startedAt?: string },
  now = Date.now(),
): InstancePath {
  const history = saga.history ?? [];
  const begin = history.find((h) => h.from === null);
  const moves = history.filter((h): h is SagaHistoryEntry & { from: string } => h.from !== null);
  const start = begin ? stateOf(graph, begin.to) : moves[0] ? stateOf(graph, moves[0].from) : stateOf(graph, saga.state ?? graph.initial);
  const startedAt = saga.startedAt ?? begin?.at ?? moves[0]?.at;
  const t0 = time(startedAt);
  const steps = moves.map((h, i) => {
    const from = stateOf(graph, h.from);
    const to = stateOf(graph, h.to);
    const event = inputType(h.input);
    const next = moves[i + 1];
    const step: PathStep = { index: i, from, to, event, at: h.at, elapsedMs: time(h.at) - t0 };
    const edge = findEdge(graph, from, to, event);
    if (edge) step.edgeId = edge.id;
    if (h.operator) step.operator = h.operator;
    if (next) step.durationMs = time(next.at) - time(h.at);
    else if (saga.status === 'running') step.durationMs = Math.max(0, now - time(h.at));
    return step;
  });
  const path: InstancePath = { start, steps };
  if (startedAt) path.startedAt = startedAt;
  return path;
}

/** The state the instance was in after `k` steps of its path (k = 0: where it began). */
export function stateAfter(path: InstancePath, k: number): string {
  if (k <= 0 || path.steps.length === 0) return path.start;
  return path.steps[Math.min(k, path.steps.length) - 1]!.to;
}

export interface Counts {
  /** How many instances are in each state now. */
  states: Map<string, number>;
  /** How many times any instance took each edge. */
  edges: Map<string, number>;
  total: number;
}

export function countInstances(graph: SagaGraph, sagas: Pick<SagaInstance, 'state' | 'history' | 'status'>[]): Counts {
  const states = new Map<string, number>();
  const edges = new Map<string, number>();
  for (const s of sagas) {
    const state = stateOf(graph, s.state);
    states.set(state, (states.get(state) ?? 0) + 1);
    for (const h of s.history ?? []) {
      if (h.from === null) continue;
      const edge = findEdge(graph, stateOf(graph, h.from), stateOf(graph, h.to), inputType(h.input));
      if (edge) edges.set(edge.id, (edges.get(edge.id) ?? 0) + 1);
    }
  }
  return { states, edges, total: sagas.length };
}

/**
 * The server's exact counts (`/api/saga-stats`) placed on the graph. A transition is counted
 * by its two states; where the definition has several edges between them (on different
 * events) the count goes on the first one drawn, so no taking is counted twice.
 */
export function countsFromStats(graph: SagaGraph, stats: SagaStats): Counts {
  const states = new Map<string, number>();
  const edges = new Map<string, number>();
  for (const [name, n] of Object.entries(stats.states)) {
    const state = stateOf(graph, name);
    states.set(state, (states.get(state) ?? 0) + n);
  }
  for (const [key, n] of Object.entries(stats.transitions)) {
    const cut = key.indexOf('->');
    if (cut < 0) continue;
    const edge = findEdge(graph, stateOf(graph, key.slice(0, cut)), stateOf(graph, key.slice(cut + 2)), '');
    if (edge) edges.set(edge.id, (edges.get(edge.id) ?? 0) + n);
  }
  return { states, edges, total: stats.total };
}
