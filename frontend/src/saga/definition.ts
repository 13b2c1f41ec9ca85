/**
 * The one place that knows the JSON of `GET /api/saga-definition`. Everything else in the
 * visualiser reads the `SagaGraph` below, so when the orchestrator's export changes shape
 * only this adapter changes.
 *
 * Expected (and tolerated) input:
 *   { id, initial,
 *     states: [{ id, type?: 'final'|'atomic'|..., description?, timeout?: { ms|delay, event? } | number, tags? }]
 *             (an object keyed by state id is accepted too),
 *     transitions: [{ source, target, event, guard?, compensation?: boolean, delay?|after?: number|string }],
 *     steps: [{ step|name, state?, command?, compensation?, timeout? }] }
 */

export type NodeKind = 'initial' | 'normal' | 'final';

export interface SagaNode {
  id: string;
  label: string;
  kind: NodeKind;
  description?: string;
  /** The step's timeout in ms when the state waits on a durable timer. */
  timeoutMs?: number;
}

export interface SagaEdge {
  id: string;
  source: string;
  target: string;
  event: string;
  guard?: string;
  compensation: boolean;
  /** Taken when the state's timer fires rather than on a message. */
  timeout: boolean;
}

export interface SagaStep {
  name: string;
  state?: string;
  command?: string;
  compensation?: string;
  timeoutMs?: number;
}

export interface SagaGraph {
  id: string;
  initial: string;
  nodes: SagaNode[];
  edges: SagaEdge[];
  steps: SagaStep[];
}

export class DefinitionError extends Error {
  override name = 'DefinitionError';
}

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function ms(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (isObj(v)) return ms(v.ms ?? v.delay ?? v.timeoutMs ?? v.after);
  return undefined;
}

/** Humanises a state id: `chargingPayment` -> `charging payment`. */
export function labelOf(id: string): string {
  const last = id.split('.').pop() ?? id;
  return last.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
}

function isTimeoutEvent(event: string): boolean {
  return /timeout|timedout|timed_out|xstate\.after|^after/i.test(event);
}

export function adaptDefinition(raw: unknown): SagaGraph {
  if (!isObj(raw)) throw new DefinitionError('the saga definition is not a JSON object');
  const rawStates: Raw[] = Array.isArray(raw.states)
    ? raw.states.filter(isObj)
    : isObj(raw.states)
      ? Object.entries(raw.states).map(([id, s]) => ({ ...(isObj(s) ? s : {}), id: (isObj(s) && str(s.id)) || id }))
      : [];
  if (rawStates.length === 0) throw new DefinitionError('the saga definition has no states');

  const initial = str(raw.initial) ?? str(rawStates[0]?.id) ?? '';
  const nodes: SagaNode[] = rawStates.map((s) => {
    const id = str(s.id) ?? str(s.name) ?? '?';
    const type = str(s.type);
    const node: SagaNode = {
      id,
      label: labelOf(id),
      kind: type === 'final' || s.final === true ? 'final' : id === initial ? 'initial' : 'normal',
    };
    const description = str(s.description);
    if (description) node.description = description;
    const timeoutMs = ms(s.timeout ?? s.timeoutMs);
    if (timeoutMs !== undefined) node.timeoutMs = timeoutMs;
    return node;
  });

  const ids = new Set(nodes.map((n) => n.id));
  const rawTransitions = Array.isArray(raw.transitions) ? raw.transitions.filter(isObj) : [];
  const edges: SagaEdge[] = [];
  rawTransitions.forEach((t, i) => {
    const source = str(t.source) ?? str(t.from);
    const target = str(t.target) ?? str(t.to);
    if (!source || !target) return;
    const delay = t.delay ?? t.after;
    const event = str(t.event) ?? str(t.type) ?? (delay !== undefined ? `after ${String(delay)}` : 'always');
    // A transition may name a state the definition left out (e.g. a nested one); draw it anyway.
    for (const id of [source, target])
      if (!ids.has(id)) {
        ids.add(id);
        nodes.push({ id, label: labelOf(id), kind: 'normal' });
      }
    const edge: SagaEdge = {
      id: `e${i}:${source}->${target}:${event}`,
      source,
      target,
      event,
      compensation: t.compensation === true || t.kind === 'compensation',
      timeout: delay !== undefined || t.timeout === true || isTimeoutEvent(event),
    };
    const guard = str(t.guard) ?? (isObj(t.guard) ? str(t.guard.type) : undefined);
    if (guard) edge.guard = guard;
    edges.push(edge);
  });

  const steps: SagaStep[] = (Array.isArray(raw.steps) ? raw.steps.filter(isObj) : []).map((s) => {
    const step: SagaStep = { name: str(s.step) ?? str(s.name) ?? str(s.state) ?? '?' };
    const state = str(s.state);
    if (state) step.state = state;
    const command = str(s.command);
    if (command) step.command = command;
    const compensation = str(s.compensation) ?? (Array.isArray(s.compensation) ? s.compensation.join(', ') : undefined);
    if (compensation) step.compensation = compensation;
    const timeoutMs = ms(s.timeout ?? s.timeoutMs);
    if (timeoutMs !== undefined) step.timeoutMs = timeoutMs;
    return step;
  });

  return { id: str(raw.id) ?? 'saga', initial, nodes, edges, steps };
}

/** The node a history entry's state name refers to: exact id, else its last dotted segment. */
export function resolveState(graph: SagaGraph, name: string): string | undefined {
  if (graph.nodes.some((n) => n.id === name)) return name;
  const last = name.split('.').pop();
  return graph.nodes.find((n) => n.id === last || n.id.split('.').pop() === last)?.id;
}
