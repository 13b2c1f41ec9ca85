import type { DomainEvent } from '@saga/event-schemas/catalog';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import type { EventStore, ExpectedRevision } from '@saga/platform/event-store/port';
import { WrongExpectedRevisionError } from '@saga/platform/event-store/port';
import { ConflictError, ForbiddenError, IllegalStateError, NotFoundError, ValidationError, type AppError } from '@saga/platform/errors';
import { ignore, isEvents, type Decision, type Ignored, type Rejected } from './decision';
import { toNewEvents, type Causation } from './new-events';

/** A stream folded: the decider's state, the revision to expect, the commands already answered. */
export interface Aggregate<S> {
  state: S;
  /** Revision of the stream's last event, -1 when the stream does not exist yet. */
  revision: number;
  /** Causation ids of the stream's events: a command found here was handled before. */
  handledCommands: Set<string>;
}

export type Evolve<S, E> = (state: S, event: E) => S;

/** Folds recorded events onto an aggregate (a fresh one by default). */
export function foldRecorded<S, E extends DomainEvent>(
  events: RecordedEvent[],
  evolve: Evolve<S, E>,
  from: Aggregate<S>,
): Aggregate<S> {
  let { state, revision } = from;
  const handledCommands = from.handledCommands;
  for (const event of events) {
    // Streams hold only their own category's events, so the cast narrows what is already true.
    state = evolve(state, { type: event.type, data: event.data } as E);
    revision = event.revision;
    handledCommands.add(event.metadata.causationId);
  }
  return { state, revision, handledCommands };
}

export async function loadAggregate<S, E extends DomainEvent>(
  store: EventStore,
  streamId: string,
  initialState: S,
  evolve: Evolve<S, E>,
): Promise<Aggregate<S>> {
  const events = await store.readStream(streamId);
  return foldRecorded(events, evolve, { state: initialState, revision: -1, handledCommands: new Set() });
}

/** Streams a loader keeps folded, most recently used last. */
const KEEP = 10_000;

/**
 * `loadAggregate` with the folded streams kept in memory: a load reads only the events after
 * the revision held (one index seek that finds none, usually), so each command no longer reads
 * and decodes its whole stream. Always as fresh as a full read: the store is asked every time,
 * so events appended by another process or writer are folded in before anyone decides on it.
 * Revisions are contiguous and events never change, so the fold of 0..r plus r+1.. is the fold of all.
 */
export function aggregateLoader<S, E extends DomainEvent>(
  store: EventStore,
  initialState: S,
  evolve: Evolve<S, E>,
): (streamId: string) => Promise<Aggregate<S>> {
  const kept = new Map<string, Aggregate<S>>();
  return async (streamId) => {
    const held = kept.get(streamId);
    const events = await store.readStream(streamId, held ? { fromRevision: held.revision + 1 } : {});
    // A copy of the set: an aggregate already handed out must not change under its holder.
    const base: Aggregate<S> = held
      ? { state: held.state, revision: held.revision, handledCommands: events.length === 0 ? held.handledCommands : new Set(held.handledCommands) }
      : { state: initialState, revision: -1, handledCommands: new Set() };
    const next = events.length === 0 ? base : foldRecorded(events, evolve, base);
    const latest = kept.get(streamId);
    // Two loads of one stream may overlap: keep the newer fold.
    if (!latest || latest.revision <= next.revision) {
      kept.delete(streamId);
      kept.set(streamId, next);
      if (kept.size > KEEP) kept.delete(kept.keys().next().value!);
    }
    return next;
  };
}

export const expectedRevisionOf = (revision: number): ExpectedRevision => (revision < 0 ? 'no_stream' : revision);

export type CommandOutcome<E> = { kind: 'appended'; events: E[]; revision: number } | Ignored | Rejected;

export interface HandleCommandOptions<S, E extends DomainEvent> {
  store: EventStore;
  streamId: string;
  initialState: S;
  evolve: Evolve<S, E>;
  /** Runs the pure decider on the freshly loaded state. */
  decide: (state: S) => Decision<E>;
  causation: Causation;
  /** Tries in all when another writer got there first (WrongExpectedRevisionError). */
  maxAttempts?: number;
  /**
   * Default true: a command id the stream already holds is a no-op. Place-order turns it off
   * so the decider compares the content of a repeated placement (same -> no-op, else conflict).
   */
  skipHandledCommands?: boolean;
  /** The stream as the caller just loaded it, used for the first attempt instead of reading it again. */
  loaded?: Aggregate<S>;
  /** How the stream is loaded (an `aggregateLoader`); default `loadAggregate`, a full read each time. */
  load?: (streamId: string) => Promise<Aggregate<S>>;
}

/**
 * The whole command handler: read the stream, fold with `evolve`, `decide`, append with the
 * expected revision; on a concurrent write, read again and decide again (a bounded number of
 * times). A command whose id the stream already holds is a no-op.
 */
export async function handleCommand<S, E extends DomainEvent>(options: HandleCommandOptions<S, E>): Promise<CommandOutcome<E>> {
  const { store, streamId, causation, maxAttempts = 5, skipHandledCommands = true } = options;
  const load = options.load ?? ((id: string) => loadAggregate(store, id, options.initialState, options.evolve));
  for (let attempt = 1; ; attempt++) {
    const aggregate = attempt === 1 && options.loaded ? options.loaded : await load(streamId);
    if (skipHandledCommands && aggregate.handledCommands.has(causation.commandId)) return ignore('AlreadyHandled');
    const decision = options.decide(aggregate.state);
    if (!isEvents(decision)) return decision;
    if (decision.length === 0) return ignore('NothingToDo');
    try {
      const result = await store.append(streamId, toNewEvents(decision, causation), {
        expectedRevision: expectedRevisionOf(aggregate.revision),
      });
      return { kind: 'appended', events: decision, revision: result.nextExpectedRevision };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw error;
    }
  }
}

/** Maps a decider's rejection to the typed error the HTTP edge turns into problem+json. */
export function rejectionError(rejected: Rejected): AppError {
  switch (rejected.error) {
    case 'not-found':
      return new NotFoundError(rejected.message);
    case 'conflict':
      return new ConflictError(rejected.message);
    case 'illegal-state':
      return new IllegalStateError(rejected.message);
    case 'forbidden':
      return new ForbiddenError(rejected.message);
    case 'validation':
      return new ValidationError(rejected.message);
    default: {
      const unreachable: never = rejected.error;
      throw new Error(`unknown rejection ${String(unreachable)}`);
    }
  }
}
