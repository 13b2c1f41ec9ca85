import type { NewEvent } from '@saga/event-schemas/envelope';
import {
  appendMany,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
} from '@saga/platform/event-store/port';

/**
 * The store with group commit: appends made while a group is being written (the handlers of
 * one bus batch, other partitions' handlers, HTTP commands) wait and go out together in the
 * next `appendMany`, one transaction in the embedded store instead of one each. Each append
 * keeps its own semantics (its expected revision checked on its own, its own result or
 * WrongExpectedRevisionError); if the group fails as a whole (an invalid event, a partial
 * re-append), each append is retried alone, so every caller gets the answer `append` would
 * have given it. Everything else goes to the store as it is.
 */
/** A group of at least this many appends means the store is busy: the next group waits a turn to gather more. */
const GATHER_A_TURN = 8;

export function withGroupCommit(store: EventStore): EventStore {
  interface Pending {
    streamId: string;
    events: NewEvent[];
    expectedRevision: ExpectedRevision;
    resolve: (result: AppendResult) => void;
    reject: (error: unknown) => void;
  }
  let queue: Pending[] = [];
  let writing: Promise<void> | undefined;

  let lastGroup = 0;
  async function writeAll(): Promise<void> {
    // Let other appends join the first group: when busy, those of a whole turn of the event
    // loop; when quiet, only those already on their way (the rest of this bus batch), so a
    // lone append does not wait a turn.
    await new Promise<void>((resolve) => (lastGroup >= GATHER_A_TURN ? setImmediate(resolve) : process.nextTick(resolve)));
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      lastGroup = group.length;
      await write(group);
    }
  }

  async function write(group: Pending[]): Promise<void> {
    if (group.length === 1) return one(group[0]!);
    let results: (AppendResult | WrongExpectedRevisionError)[];
    try {
      results = await appendMany(store, group);
    } catch {
      await Promise.all(group.map(one));
      return;
    }
    group.forEach((p, i) => {
      const result = results[i]!;
      if (result instanceof WrongExpectedRevisionError) p.reject(result);
      else p.resolve(result);
    });
  }

  const one = (p: Pending): Promise<void> =>
    store.append(p.streamId, p.events, { expectedRevision: p.expectedRevision }).then(p.resolve, p.reject);

  return {
    append(streamId, events, options) {
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ streamId, events, expectedRevision: options?.expectedRevision ?? 'any', resolve, reject });
        writing ??= writeAll().finally(() => {
          writing = undefined;
        });
      });
    },
    appendMany: (appends) => appendMany(store, appends),
    readStream: (streamId, options) => store.readStream(streamId, options),
    readAll: (options) => store.readAll(options),
    subscribeToAll: (options) => store.subscribeToAll(options),
    subscribeToStream: (streamId, options) => store.subscribeToStream(streamId, options),
    streamRevision: (streamId) => store.streamRevision(streamId),
    headPosition: () => store.headPosition(),
    listCategories: () => store.listCategories(),
    listStreams: (options) => store.listStreams(options),
    async close() {
      await writing;
      await store.close();
    },
  };
}
