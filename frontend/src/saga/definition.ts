/**
 * The one place that knows the JSON of `GET /api/saga-definition`. Everything else in the
 * visualiser reads the `SagaGraph` below, so when the orchestrator's export changes shape
 * only this adapter changes.
 *
 * Read (saga-orchestrator/src/export.ts):
 *   { id, initial, stepTimeoutMs,
 *     states: [{ name, kind: 'step'|'compensation'|'end', status, step, command, pivot, timeout: {delayMs, onTimeout} | null }],
 *     transitions: [{ source | '*', event, target | null, guard, actions, commands, kind: 'forward'|'compensation'|'timeout'|'retry'|'late-compensation' }],
 *     steps: [{ step, state, command, success, failure, compensation, onTimeout }] }
 * Also tolerated: states with `id`/`type: 'final'`, states keyed by id, transitions with
 * `compensation: true` or `delay`.
 */

export type NodeKind = 'initial' | 'step' | 'compensation' | 'final';

export interface SagaNode {
  id: string;
  label: string;
  kind: NodeKind;
  /** For end states: the saga status it ends with (completed, rejected, cancelled). */
  status?: string;
  description?: string;
  /** The step's timeout in ms when the state waits on a durable timer, and what firing it does. */
  timeoutMs?: number;
  onTimeout?: string;
  command?: string;
  pivot?: boolean;
}

export type EdgeKind = 'forward' | 'compensation' | 'timeout' | 'retry' | 'late-compensation';

export interface SagaEdge {
  id: string;
  /** `*` for an edge every state has (a late success that must be compensated). */
  source: string;
  /** Equal to `source` when the saga stays where it is (a retry, a late compensation). */
  target: string;
  /** Events that take this edge; parallel edges of one kind are drawn as one. */
  events: string[];
  guard?: string;
  kind: EdgeKind;
  commands: string[];
}

export interface SagaStep {
  name: string;
  state?: string;
  command?: string;
  success?: string;
  failure?: string;
  compensation?: string;
  onTimeout?: string;
}

export interface SagaGraph {
  id: string;
  initial: string;
  stepTimeoutMs?: number;
  nodes: SagaNode[];
  /** Every edge, drawn or not: `drawn()` below says which ones the chart shows. */
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
  if (isObj(v)) return ms(v.delayMs ?? v.ms ?? v.delay ?? v.timeoutMs ?? v.after);
  return undefined;
}

/** Humanises a state id: `chargingPayment` -> `charging payment`. */
export function labelOf(id: string): string {
  const last = id.split('.').pop() ?? id;
  return last.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
}

/** Retries and late compensations leave the saga where it is; drawing them as loops on every state would bury the flow. */
export function drawn(edge: SagaEdge): boolean {
  return edge.kind !== 'retry' && edge.kind !== 'late-compensation' && edge.source !== edge.target;
}

export function edgeLabel(edge: SagaEdge): string {
  const events = edge.events.join(' / ');
  return edge.guard ? `${events} [${edge.guard}]` : events;
}

function edgeKind(t: Raw, source: string, target: string | undefined, event: string): EdgeKind {
  const k = str(t.kind);
  if (k === 'forward' || k === 'compensation' || k === 'timeout' || k === 'retry' || k === 'late-compensation') return k;
  if (source === '*') return 'late-compensation';
  if (t.compensation === true) return 'compensation';
  if (t.delay !== undefined || t.after !== undefined || /timeout|timedout|xstate\.after/i.test(event)) return target && target !== source ? 'timeout' : 'retry';
  return 'forward';
}

function adaptState(s: Raw, initial: string): SagaNode {
  const id = str(s.name) ?? str(s.id) ?? '?';
  const kind = str(s.kind);
  const final = kind === 'end' || s.type === 'final' || s.final === true;
  const node: SagaNode = {
    id,
    label: labelOf(id),
    kind: final ? 'final' : id === initial ? 'initial' : kind === 'compensation' ? 'compensation' : 'step',
  };
  const status = str(s.status);
  if (final && status) node.status = status;
  const timeoutMs = ms(s.timeout ?? s.timeoutMs);
  if (timeoutMs !== undefined) node.timeoutMs = timeoutMs;
  const onTimeout = isObj(s.timeout) ? str(s.timeout.onTimeout) : undefined;
  if (onTimeout) node.onTimeout = onTimeout;
  const command = str(s.command);
  if (command) node.command = command;
  if (s.pivot === true) node.pivot = true;
  const description =
    str(s.description) ??
    ([command && `sends ${command}`, s.pivot === true && 'pivot: no compensation after it', onTimeout && `on timeout: ${onTimeout}`].filter(Boolean).join('; ') ||
      undefined);
  if (description) node.description = description;
  return node;
}

export function adaptDefinition(raw: unknown): SagaGraph {
  if (!isObj(raw)) throw new DefinitionError('the saga definition is not a JSON object');
  const rawStates: Raw[] = Array.isArray(raw.states)
    ? raw.states.filter(isObj)
    : isObj(raw.states)
      ? Object.entries(raw.states).map(([id, s]) => ({ ...(isObj(s) ? s : {}), id: (isObj(s) && (str(s.id) ?? str(s.name))) || id }))
      : [];
  if (rawStates.length === 0) throw new DefinitionError('the saga definition has no states');

  const initial = str(raw.initial) ?? str(rawStates[0]?.name) ?? str(rawStates[0]?.id) ?? '';
  const nodes = rawStates.map((s) => adaptState(s, initial));
  const ids = new Set(nodes.map((n) => n.id));

  // Parallel edges (same ends, same kind, same guard) become one edge listing its events.
  const edges: SagaEdge[] = [];
  const byKey = new Map<string, SagaEdge>();
  for (const t of Array.isArray(raw.transitions) ? raw.transitions.filter(isObj) : []) {
    const source = str(t.source) ?? str(t.from);
    if (!source) continue;
    const rawTarget = str(t.target) ?? str(t.to);
    const delay = t.delay ?? t.after;
    const event = str(t.event) ?? str(t.type) ?? (delay !== undefined ? `after ${String(delay)}` : 'always');
    const kind = edgeKind(t, source, rawTarget, event);
    const target = rawTarget ?? source;
    // A transition may name a state the definition left out (e.g. a nested one); draw it anyway.
    for (const id of [source, target])
      if (id !== '*' && !ids.has(id)) {
        ids.add(id);
        nodes.push({ id, label: labelOf(id), kind: 'step' });
      }
    const guard = str(t.guard) ?? (isObj(t.guard) ? str(t.guard.type) : undefined);
    const commands = Array.isArray(t.commands) ? t.commands.filter((c): c is string => typeof c === 'string') : [];
    const key = `${source}->${target}:${kind}:${guard ?? ''}`;
    const existing = byKey.get(key);
    if (existing) {
      if (!existing.events.includes(event)) existing.events.push(event);
      continue;
    }
    const edge: SagaEdge = { id: `${source}->${target}:${kind}:${edges.length}`, source, target, events: [event], kind, commands };
    if (guard) edge.guard = guard;
    byKey.set(key, edge);
    edges.push(edge);
  }

  const steps: SagaStep[] = (Array.isArray(raw.steps) ? raw.steps.filter(isObj) : []).map((s) => {
    const step: SagaStep = { name: str(s.step) ?? str(s.name) ?? str(s.state) ?? '?' };
    for (const k of ['state', 'command', 'success', 'failure', 'compensation', 'onTimeout'] as const) {
      const v = str(s[k]) ?? (Array.isArray(s[k]) ? (s[k] as unknown[]).join(', ') : undefined);
      if (v) step[k] = v;
    }
    return step;
  });

  const graph: SagaGraph = { id: str(raw.id) ?? 'saga', initial, nodes, edges, steps };
  const stepTimeoutMs = ms(raw.stepTimeoutMs);
  if (stepTimeoutMs !== undefined) graph.stepTimeoutMs = stepTimeoutMs;
  return graph;
}

/** The node a history entry's state name refers to: exact id, else its last dotted segment. */
export function resolveState(graph: SagaGraph, name: string): string | undefined {
  if (graph.nodes.some((n) => n.id === name)) return name;
  const last = name.split('.').pop();
  return graph.nodes.find((n) => n.id === last || n.id.split('.').pop() === last)?.id;
}

/** The edge an instance took from `from` to `to` on `event`: the exact edge, else a late compensation, else any edge between the two. */
export function findEdge(graph: SagaGraph, from: string, to: string, event: string): SagaEdge | undefined {
  const direct = graph.edges.filter((e) => e.source === from && e.target === to);
  const exact = direct.find((e) => e.events.includes(event));
  if (exact) return exact;
  const anywhere = from === to ? graph.edges.find((e) => e.source === '*' && e.events.includes(event)) : undefined;
  return anywhere ?? direct[0];
}
