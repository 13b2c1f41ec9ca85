import { sagaMachine, type SagaMachine, type SagaStatus } from './machine';
import { sagaSteps, stepNamed, type OnTimeout, type StepName, type StepTable } from './steps';

/**
 * The saga's definition as JSON for the visualiser, read from the machine object itself
 * (`machine.root.definition`), never from a second hand-kept copy: add a state or an edge to
 * the machine and it appears here.
 */
export interface SagaDefinition {
  id: string;
  initial: string;
  /** Every waiting step times out after this many milliseconds (SAGA_STEP_TIMEOUT_MS). */
  stepTimeoutMs: number;
  states: SagaStateDefinition[];
  transitions: SagaTransitionDefinition[];
  /** The step table (steps.ts) the machine is built on. */
  steps: StepRow[];
}

export interface StepRow {
  step: StepName;
  state: string | null;
  command: string;
  success: string | null;
  failure: string | null;
  compensation: StepName | null;
  onTimeout: OnTimeout | null;
  /** How often a failing step's command is re-sent before it fails (0: never). */
  retriesBeforeFail: number;
  lateSuccess: StepName | null;
  pivot: boolean;
  skippable: boolean;
}

/** The step table as data (no builders): what a definition's content hash and the routes show. */
export function stepRows(table: StepTable): StepRow[] {
  return table.map(({ step, state, command, success, failure, compensation, onTimeout, retriesBeforeFail, lateSuccess, pivot, skippable }) => ({
    step,
    state,
    command,
    success,
    failure,
    compensation,
    onTimeout,
    retriesBeforeFail: retriesBeforeFail ?? 0,
    lateSuccess: lateSuccess ?? null,
    pivot: pivot === true,
    skippable: skippable === true,
  }));
}

export interface SagaStateDefinition {
  name: string;
  kind: 'step' | 'compensation' | 'end';
  status: SagaStatus;
  /** The step this state waits for, its command and what its timeout means. */
  step: StepName | null;
  command: string | null;
  pivot: boolean;
  timeout: { delayMs: number; onTimeout: OnTimeout } | null;
}

export type TransitionKind = 'forward' | 'compensation' | 'timeout' | 'retry' | 'late-compensation' | 'operator';

export interface SagaTransitionDefinition {
  /** The state the edge leaves, or `*` for an edge every state has (late successes). */
  source: string;
  event: string;
  /** Null when the saga stays where it is (a retry or a late compensation). */
  target: string | null;
  guard: string | null;
  actions: string[];
  /** Commands the edge issues, in order (entering a step issues that step's command). */
  commands: string[];
  kind: TransitionKind;
}

interface ActionDef {
  type: string;
  params?: { step?: StepName } & Record<string, unknown>;
}
interface TransitionDef {
  target?: string[];
  guard?: string | { type: string };
  actions: (string | ActionDef)[];
  eventType: string;
}
interface StateDef {
  key: string;
  meta?: { step?: StepName; status?: SagaStatus; pivot?: boolean; compensation?: boolean };
  entry: (string | ActionDef)[];
  transitions: TransitionDef[];
}

const actionName = (a: string | ActionDef) => (typeof a === 'string' ? a : a.type);
const stateName = (id: string) => id.slice(id.lastIndexOf('.') + 1);
export function sagaDefinition(options: { stepTimeoutMs: number }, machine: SagaMachine = sagaMachine, table: StepTable = sagaSteps): SagaDefinition {
  const stepNamed_ = (step: StepName) => stepNamed(step, table);
  const isStepName = (name: string): name is StepName => table.some((s) => s.step === name);
  // `definition` serialises (toJSON) to plain data: targets as ids, guards and actions by name.
  const root = JSON.parse(JSON.stringify(machine.root.definition)) as {
    id: string;
    initial: { target: string[] };
    states: Record<string, StateDef>;
    transitions: TransitionDef[];
  };
  const states = Object.values(root.states);
  const byName = new Map(states.map((s) => [s.key, s]));

  const entryStep = (state: StateDef | undefined): StepName | null => {
    const start = state?.entry.find((a): a is ActionDef => typeof a !== 'string' && a.type === 'startStep');
    return start?.params?.step ?? null;
  };

  const describeState = (s: StateDef): SagaStateDefinition => {
    const step = s.meta?.step ?? null;
    const row = step ? stepNamed_(step) : null;
    const status = s.meta?.status ?? 'running';
    return {
      name: s.key,
      kind: status !== 'running' ? 'end' : s.meta?.compensation ? 'compensation' : 'step',
      status,
      step,
      command: row?.command ?? null,
      pivot: s.meta?.pivot === true,
      timeout: row?.onTimeout ? { delayMs: options.stepTimeoutMs, onTimeout: row.onTimeout } : null,
    };
  };

  const describeTransition = (source: string, sourceState: StateDef | null, t: TransitionDef): SagaTransitionDefinition => {
    const target = t.target?.[0] ? stateName(t.target[0]) : null;
    const actions = t.actions.map(actionName);
    const commands: string[] = [];
    for (const a of actions) {
      if (a === 'retryStep') {
        const step = entryStep(sourceState ?? undefined);
        if (step) commands.push(stepNamed_(step).command);
      } else if (isStepName(a)) {
        commands.push(stepNamed_(a).command);
      }
    }
    const entered = target ? entryStep(byName.get(target)) : null;
    if (entered) commands.push(stepNamed_(entered).command);
    const guard = typeof t.guard === 'string' ? t.guard : (t.guard?.type ?? null);
    const kind: TransitionKind =
      t.eventType === 'OperatorActed'
        ? 'operator'
        : source === '*'
          ? 'late-compensation'
          : actions.includes('retryStep')
          ? 'retry'
          : // A reply recorded after its deadline is that step's timeout, judged by the reply's time.
            t.eventType === 'StepTimedOut' || guard === 'recordedAfterDeadline'
            ? 'timeout'
            : actions.includes('rollBack')
              ? 'compensation'
              : 'forward';
    return { source, event: t.eventType, target, guard, actions, commands, kind };
  };

  return {
    id: root.id,
    initial: stateName(root.initial.target[0] ?? ''),
    stepTimeoutMs: options.stepTimeoutMs,
    states: states.map(describeState),
    transitions: [
      ...states.flatMap((s) => s.transitions.map((t) => describeTransition(s.key, s, t))),
      ...root.transitions.map((t) => describeTransition('*', null, t)),
    ],
    steps: stepRows(table),
  };
}
