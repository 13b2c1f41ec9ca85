import type { SagaHistoryEntry, SagaInstance } from '../api';
import { resolveState, type SagaGraph } from './definition';

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
  /** Time from the saga's start (or its first step) to this one. */
  elapsedMs: number;
}

export function inputType(input: SagaHistoryEntry['input']): string {
  if (typeof input === 'string') return input;
  return input && typeof input === 'object' && typeof input.type === 'string' ? input.type : '?';
}

function time(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
}

function findEdge(graph: SagaGraph, from: string, to: string, event: string): string | undefined {
  const between = graph.edges.filter((e) => e.source === from && e.target === to);
  return (between.find((e) => e.event === event) ?? between[0])?.id;
}

export function instancePath(graph: SagaGraph, saga: Pick<SagaInstance, 'history' | 'status' | 'startedAt'>, now = Date.now()): PathStep[] {
  const history = saga.history ?? [];
  // Timings count from the saga's start when the read model has it, else from its first step.
  const start = saga.startedAt ? time(saga.startedAt) : history.length ? time(history[0]!.at) : 0;
  return history.map((h, i) => {
    const from = resolveState(graph, h.from) ?? h.from;
    const to = resolveState(graph, h.to) ?? h.to;
    const event = inputType(h.input);
    const next = history[i + 1];
    const step: PathStep = { index: i, from, to, event, at: h.at, elapsedMs: time(h.at) - start };
    const edgeId = findEdge(graph, from, to, event);
    if (edgeId) step.edgeId = edgeId;
    if (next) step.durationMs = time(next.at) - time(h.at);
    else if (saga.status === 'running') step.durationMs = Math.max(0, now - time(h.at));
    return step;
  });
}

/** The state the instance was in after `k` steps of its path (k = 0: where it began). */
export function stateAfter(graph: SagaGraph, path: PathStep[], k: number): string {
  if (k <= 0) return path[0]?.from ?? graph.initial;
  return path[Math.min(k, path.length) - 1]!.to;
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
    const state = resolveState(graph, s.state) ?? s.state;
    states.set(state, (states.get(state) ?? 0) + 1);
    for (const h of s.history ?? []) {
      const from = resolveState(graph, h.from) ?? h.from;
      const to = resolveState(graph, h.to) ?? h.to;
      const id = findEdge(graph, from, to, inputType(h.input));
      if (id) edges.set(id, (edges.get(id) ?? 0) + 1);
    }
  }
  return { states, edges, total: sagas.length };
}
