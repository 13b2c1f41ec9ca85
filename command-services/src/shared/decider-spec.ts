import { expect } from 'vitest';
import type { Decision, RejectionKind } from './decision';

export interface Decider<S, C, E, Ctx> {
  initialState: S;
  evolve: (state: S, event: E) => S;
  decide: (command: C, state: S, context: Ctx) => Decision<E>;
}

/**
 * Specs that read as the requirement: `given(events).when(command).then(events)`.
 * The context (time, ids) is fixed per spec so expected events can be written out in full.
 */
export function deciderSpec<S, C, E, Ctx>(decider: Decider<S, C, E, Ctx>, context: Ctx) {
  return {
    given(events: E[]) {
      const state = events.reduce(decider.evolve, decider.initialState);
      return {
        when(command: C) {
          const decision = decider.decide(command, state, context);
          return {
            then: (expected: E[]) => expect(decision).toEqual(expected),
            thenIgnored: (reason: string) => expect(decision).toEqual({ kind: 'ignored', reason }),
            thenRejected: (error: RejectionKind, message?: string | RegExp) => {
              expect(decision).toMatchObject({ kind: 'rejected', error });
              if (message !== undefined) expect((decision as { message: string }).message).toMatch(message);
            },
          };
        },
        /** For evolve: the state the events fold into. */
        thenState: (expected: S) => expect(state).toEqual(expected),
      };
    },
  };
}
