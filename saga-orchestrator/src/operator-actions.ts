import { commandsOf, statusOf, type OperatorAction, type SagaContext } from './machine';
import { restoreIn, type SagaVersion } from './definitions';

/**
 * Whether an operator's action applies to a saga in its state, and why not: the machine itself
 * is asked (a dry run of the action as an input), and a refusal is explained from the step table.
 * What each action does (machine.ts, `waitingFor`):
 * - `retry-step`: re-send the waiting step's command, same command id (a receiver that applied it
 *   already ignores it), and re-arm its deadline; or re-send a late undo that was dead-lettered.
 * - `skip-step`: answer a skippable step (the emails) as if it had succeeded; flagged `stepSkipped`.
 * - `compensate`: roll back from a forward step before the pivot, as if it had failed.
 */
export function actionRefusal(version: SagaVersion, state: string, context: SagaContext, action: OperatorAction, at: string): string | null {
  const snapshot = restoreIn(version, state, context);
  const [next, actions] = version.stepper.next(snapshot, { type: 'OperatorActed', action, operator: 'dry-run', reason: 'dry-run', at });
  if (next !== snapshot || commandsOf(actions).length > 0) return null;
  const status = statusOf(state);
  const row = version.steps.find((r) => r.state === state);
  if (!row) return `the saga has ended (${status})${action === 'retry-step' ? ' and owes no undo that was dead-lettered' : ''}: nothing to ${action.replace('-step', '')}`;
  switch (action) {
    case 'skip-step':
      return `step ${row.step} cannot be skipped: only the emails can, since nothing after them relies on them`;
    case 'compensate': {
      if (row.kind === 'undo') return `the saga is already compensating (${state})`;
      if (row.kind === 'end') return `the saga is already ending (${state}): there is nothing left to undo`;
      return `step ${row.step} is at or after the pivot (${version.steps.find((r) => r.pivot)?.step}): from here the saga only goes forward`;
    }
    case 'retry-step':
      return `the saga waits on no command in ${state}`;
    default: {
      const unknown: never = action;
      return `unknown action ${String(unknown)}`;
    }
  }
}
