/**
 * What a decider returns: the events to append, or a typed reason why nothing is appended.
 * A duplicate or no-op is a value (`ignore`), not an exception; a command the state does not
 * allow is a `reject`ion the handler maps to a typed AppError at the edge of the service.
 */
export interface Ignored {
  readonly kind: 'ignored';
  readonly reason: string;
}

export type RejectionKind = 'not-found' | 'conflict' | 'illegal-state' | 'forbidden' | 'validation';

export interface Rejected {
  readonly kind: 'rejected';
  readonly error: RejectionKind;
  readonly message: string;
}

export type Decision<E> = E[] | Ignored | Rejected;

export const ignore = (reason: string): Ignored => ({ kind: 'ignored', reason });
export const reject = (error: RejectionKind, message: string): Rejected => ({ kind: 'rejected', error, message });

export function isEvents<E>(decision: Decision<E>): decision is E[] {
  return Array.isArray(decision);
}
