import type { WhatIfResult, WhatIfStep } from '../api';
import { findEdge, resolveState, type SagaGraph } from './definition';

/** One stop of a what-if path: the state reached and the input that moved it there. */
export interface Stop {
  state: string;
  event?: string;
}

function stopOf(step: WhatIfStep): Stop | null {
  if (typeof step === 'string') return { state: step };
  const state = step.to ?? step.state;
  if (typeof state !== 'string') return null;
  const input = step.input ?? step.event;
  const event = typeof input === 'string' ? input : input && typeof input === 'object' && typeof input.type === 'string' ? input.type : undefined;
  return event ? { state, event } : { state };
}

/** A path as states in order, whatever the answer's step shape (state names or transitions). */
export function stops(path: WhatIfStep[]): Stop[] {
  return path.map(stopOf).filter((s): s is Stop => s !== null);
}

export interface Comparison {
  original: Stop[];
  replayed: Stop[];
  divergesAt: number | null;
  /** The definition's edges the replay takes, each with its 1-based step numbers. */
  replayedEdges: Map<string, number[]>;
  replayedStates: Set<string>;
  /** The state the replay reaches at the divergence, where it leaves the recorded path. */
  divergeState?: string;
  /** The state the recorded path reached there instead. */
  originalState?: string;
}

/** Places both paths of a what-if answer on the graph, and where they part. */
export function compare(graph: SagaGraph, result: WhatIfResult): Comparison {
  const on = (name: string) => resolveState(graph, name) ?? name;
  const original = stops(result.original).map((s) => ({ ...s, state: on(s.state) }));
  const replayed = stops(result.replayed).map((s) => ({ ...s, state: on(s.state) }));
  const replayedEdges = new Map<string, number[]>();
  for (let i = 1; i < replayed.length; i++) {
    const from = replayed[i - 1]!.state;
    const to = replayed[i]!;
    const edge = findEdge(graph, from, to.state, to.event ?? '');
    if (edge) replayedEdges.set(edge.id, [...(replayedEdges.get(edge.id) ?? []), i]);
  }
  const c: Comparison = { original, replayed, divergesAt: result.divergesAt, replayedEdges, replayedStates: new Set(replayed.map((s) => s.state)) };
  if (result.divergesAt !== null) {
    const r = replayed[result.divergesAt];
    const o = original[result.divergesAt];
    if (r) c.divergeState = r.state;
    if (o) c.originalState = o.state;
  }
  return c;
}
