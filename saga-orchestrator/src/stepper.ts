import { createActor, type ExecutableActionsFrom } from 'xstate';
import { sagaMachine, type SagaEvent, type SagaInput, type SagaMachine, type SagaSnapshot } from './machine';

type Actions = ExecutableActionsFrom<typeof sagaMachine>[];
type Scope = Parameters<typeof sagaMachine.transition>[2];

/**
 * xstate's pure `initialTransition` / `transition`, with the same results, for the runtime's hot
 * path. Those build a throwaway actor (and compute an initial snapshot) on every call, about
 * half their cost; the saga machine invokes and spawns nothing, so one inert scope, whose
 * action executor only collects the actions, serves every call. Calls are synchronous, so
 * they never share the collected list.
 */
export interface SagaStepper {
  initial(input: SagaInput): [SagaSnapshot, Actions];
  next(snapshot: SagaSnapshot, event: SagaEvent): [SagaSnapshot, Actions];
}

/** A stepper of one machine (a definition version); version 1 when none is given. */
export function createSagaStepper(machine: SagaMachine = sagaMachine): SagaStepper {
  const self = createActor(machine, { input: undefined as unknown as SagaInput });
  let collected: Actions = [];
  const scope = {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (action: Actions[number]) => {
      collected.push(action);
    },
  } as unknown as Scope;
  const run = (work: () => SagaSnapshot): [SagaSnapshot, Actions] => {
    collected = [];
    const snapshot = work();
    const actions = collected;
    collected = [];
    return [snapshot, actions];
  };
  return {
    initial: (input) => run(() => machine.getInitialSnapshot(scope, input)),
    next: (snapshot, event) => run(() => machine.transition(snapshot, event, scope)),
  };
}
