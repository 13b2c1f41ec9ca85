import { eventTypes } from '@saga/event-schemas/catalog';
import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import type { Document, DocumentStore, WriteOp } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
// Each page of a long loop here (build, compare) waits for a background turn, so queries, /healthz,
// bus consumers and timers run between pages even when the rebuild runs on the main thread.
import { backgroundTurn } from '@saga/platform/turns';
import { applyEvent, checkpointOf, idsNeeded, type AnyProjection, type WorkingSet } from '../projectors/projection';

/**
 * Rebuild from scratch: a shadow collection is built from the event store's global log while
 * the live one keeps serving, caught up to the tail, checked, and swapped in atomically.
 *
 * The live projector only needs pausing across the last catch-up and the swap (so no write
 * of its straddles the swap). It then resumes from its own bus offsets: every document in
 * the new collection carries the stream revisions it has applied, so whatever the bus
 * delivers that the rebuild already folded in is skipped, and nothing is applied twice.
 */
export type RebuildPhase = 'starting' | 'building' | 'catching-up' | 'verifying' | 'swapping' | 'done' | 'failed';

/** Where the live projector stands in the hand-over around the swap (null: not reached yet, or none to hand over). */
export interface Handover {
  state: 'pausing' | 'paused' | 'resuming' | 'resumed';
  /** Projector replicas that must stop writing the live collection across the swap, and those that said they have. */
  replicas: number;
  acknowledged: number;
}

export interface RebuildProgress {
  projection: string;
  phase: RebuildPhase;
  /** Events read from the log so far. */
  eventsDone: number;
  /**
   * What `eventsDone` and `total` count, the same for both: `relevant` when the rebuild reads
   * only the event types the projection handles (the store filters), `log` when it reads
   * every event of the log and skips the others itself.
   */
  counting: 'relevant' | 'log';
  /**
   * Events the rebuild reads, as counted when it started (and raised to `eventsDone` if
   * appends outran that); null where the store cannot count. Progress and ETA go by events.
   */
  total: number | null;
  /** Events per second since the start. */
  rate: number;
  etaSeconds: number | null;
  /** Position of the last event read (an opaque cursor; null before the first). */
  position: LogPosition | null;
  startedAt: string;
  finishedAt: string | null;
  verification: Verification | null;
  handover: Handover | null;
  error: string | null;
}

export interface Verification {
  shadowCount: number;
  liveCount: number;
  /** Documents whose content differs between the live and the rebuilt collection (compared by id). */
  differing: number;
  /** The rebuilt collection has read the log up to its head. */
  caughtUp: boolean;
}

/**
 * What the rebuild needs from the live projector: to hold it still across the swap. `stop`
 * resolves once no replica writes the live collection any more (it reports how many had to
 * stop); `start` lets them go on, against the swapped-in collection.
 */
export interface LiveProjector {
  stop(onHandover?: (handover: Handover) => void): Promise<void>;
  start(onHandover?: (handover: Handover) => void): Promise<void>;
}

/**
 * Where the rebuild writes the shadow. By default the document store itself, one write at a
 * time; a writer in another thread (the rebuild worker's) takes writes while the rebuild goes
 * on reading and folding, and `drain` waits for all of them.
 */
export interface ShadowWriter {
  /** Resolves once the write is taken (a few may be in flight), with a promise that it has landed. */
  write(ops: WriteOp[], checkpoints: Record<string, string>): Promise<{ landed: Promise<void> }>;
  drain(): Promise<void>;
}

export interface RebuildDeps {
  eventStore: EventStore;
  documentStore: DocumentStore;
  /** The live runner, when it runs in this process. */
  live?: LiveProjector;
  now?: () => number;
}

export interface RebuildOptions {
  pageSize?: number;
  /** Documents kept in memory between pages, so a busy document is not read back each page. */
  cacheSize?: number;
  /** Events folded between two writes: a document changed by many of them is written once. */
  flushEvery?: number;
  /**
   * At a write, documents changed within this many events are kept for the next one (an order's
   * events come close together in the log, so a document this cold is unlikely to change again).
   */
  coldAfter?: number;
  /** Compare every document with the live collection before the swap (costs a full read of both). */
  compare?: boolean;
  /** Documents per write: smaller holds the store's write lock for less time (another thread may be waiting for it). */
  writeChunk?: number;
  writer?: ShadowWriter;
  onProgress?: (progress: RebuildProgress) => void;
}

/** The document store as a shadow writer: each write done before the next begins. */
function directWriter(store: DocumentStore, shadowName: string): ShadowWriter {
  return {
    async write(ops, checkpoints) {
      const { conflicts } = await store.write(ops, checkpoints);
      if (conflicts.length > 0) throw new Error(`another writer changed the shadow ${shadowName} (${conflicts[0]!.id})`);
      return { landed: Promise.resolve() };
    },
    drain: async () => undefined,
  };
}

export const shadowNameOf = (projection: AnyProjection) => `${projection.collection.name}__rebuild`;

/** Stable JSON for comparing documents whatever order their keys were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Counts the documents that differ between two collections, walking both by id. */
export async function compareCollections(store: DocumentStore, projection: AnyProjection, a: string, b: string): Promise<Omit<Verification, 'caughtUp'>> {
  const left = await store.collection({ ...projection.collection, name: a });
  const right = await store.collection({ ...projection.collection, name: b });
  const leftCount = await left.count();
  const rightCount = await right.count();
  let differing = 0;
  let foundInRight = 0;
  let cursor: string | undefined;
  do {
    const page = await left.find({ limit: 1000, ...(cursor ? { cursor } : {}) });
    const others = new Map((await right.getMany(page.items.map((d) => d.id))).map((d) => [d.id, d]));
    for (const doc of page.items) {
      const other = others.get(doc.id);
      if (other) foundInRight++;
      if (!other || canonical(doc) !== canonical(other)) differing++;
    }
    cursor = page.nextCursor ?? undefined;
    await backgroundTurn();
  } while (cursor);
  // Documents only the right side has differ too.
  differing += rightCount - foundInRight;
  return { shadowCount: leftCount, liveCount: rightCount, differing };
}

export async function rebuildProjection(deps: RebuildDeps, projection: AnyProjection, options: RebuildOptions = {}): Promise<RebuildProgress> {
  const now = deps.now ?? Date.now;
  // Small pages: a page's events stay alive while it is folded, and in pages of 5,000 they
  // outlived the young generation and were promoted, so the collector copied and then swept
  // them (GC 2.7 s of 11.5 s CPU over a million events; 1.2 s of 8.5 s in pages of 1,000).
  const pageSize = options.pageSize ?? 1000;
  const cacheSize = options.cacheSize ?? 10_000;
  // Writes go out every `flushEvery` events, so the writer thread works while this one reads
  // on; a document changed in the last `coldAfter` events waits for the next write. Writing
  // every changed document every 25,000 events wrote 84,000 documents for 74,000 orders (every
  // 100,000: 76,000, but the writer then idled between long bursts); leaving the hot ones out
  // writes each about once.
  const flushEvery = options.flushEvery ?? 20_000;
  const coldAfter = options.coldAfter ?? 10_000;
  const { eventStore, documentStore } = deps;
  const shadowName = shadowNameOf(projection);
  const started = now();
  // Filtering in the store pays off for a projection that needs few event types; for one
  // that needs most, skipping the few others here is cheaper than the store's filter.
  const filter = projection.eventTypes.length * 2 < eventTypes.length ? { eventTypes: [...projection.eventTypes] } : undefined;
  const chunk = options.writeChunk ?? 1000;
  const writer = options.writer ?? directWriter(documentStore, shadowName);
  const progress: RebuildProgress = {
    projection: projection.name,
    phase: 'starting',
    eventsDone: 0,
    counting: filter ? 'relevant' : 'log',
    // Counted like eventsDone: the events the drain reads, filtered or not.
    total: eventStore.countEvents ? await eventStore.countEvents(filter) : null,
    rate: 0,
    etaSeconds: null,
    position: null,
    startedAt: new Date(started).toISOString(),
    finishedAt: null,
    verification: null,
    handover: null,
    error: null,
  };
  const report = () => {
    const seconds = Math.max((now() - started) / 1000, 1e-3);
    const rate = progress.eventsDone / seconds;
    progress.rate = Math.round(rate);
    if (progress.total !== null && progress.total < progress.eventsDone) progress.total = progress.eventsDone;
    const left = progress.total === null ? null : progress.total - progress.eventsDone;
    progress.etaSeconds = progress.phase === 'done' ? 0 : left !== null && rate > 0 ? Math.round(left / rate) : null;
    options.onProgress?.({ ...progress });
  };

  let liveStopped = false;
  const onHandover = (handover: Handover) => {
    progress.handover = handover;
    report();
  };
  const resumeLive = async () => deps.live?.start(onHandover);
  report();
  try {
    await documentStore.dropCollection(shadowName);
    // Built with its fields but without its indexes, which are then created in one pass over
    // the finished table: far cheaper than keeping every index up to date through every write.
    const shadow = await documentStore.collection({ ...projection.collection, name: shadowName, deferIndexes: true });
    // The rebuild is the shadow's only writer, so what it holds in memory is the truth: a
    // document it never wrote is not there, and one it keeps cached need not be read back.
    const cache = new Map<string, Document | null>();
    // The version of each document written so far (the shadow's only writer knows them all).
    const stored = new Map<string, number>();
    /** The documents changed but not written yet, and when (in events read) each last changed. */
    const pending = new Map<string, number>();
    let pendingEvents = 0;
    /**
     * Documents in writes that have not landed yet: one evicted from the cache meanwhile is
     * found here, so folding never waits for the writer to read a document back.
     */
    const unlanded = new Map<string, Document>();

    /** Writes the pending documents (all of them, or those not changed in the last `coldAfter` events). */
    const flush = async (all: boolean) => {
      const ids = [...pending.keys()].filter((id) => all || progress.eventsDone - pending.get(id)! >= coldAfter);
      const ops: WriteOp[] = ids.map((id) => ({ collection: shadowName, op: 'put', doc: cache.get(id) as Document, expectedVersion: stored.get(id) ?? 0 }));
      // Chunks of about 1,000 documents (no write is one huge batch); the checkpoint goes with
      // the last chunk of a write of everything, when the shadow holds all that was read (M3).
      const checkpoint = !all || progress.position === null ? {} : { [checkpointOf(shadowName)]: progress.position };
      for (let i = 0; i < ops.length; i += chunk) {
        const last = i + chunk >= ops.length;
        const part = ops.slice(i, i + chunk);
        const { landed } = await writer.write(part, last ? checkpoint : {});
        for (const op of part) if (op.op === 'put') unlanded.set(op.doc.id, op.doc);
        void landed.then(
          () => {
            for (const op of part) if (op.op === 'put' && unlanded.get(op.doc.id) === op.doc) unlanded.delete(op.doc.id);
          },
          () => undefined, // the writer's failure is raised by its next call
        );
        await backgroundTurn();
      }
      if (ops.length === 0 && all) await writer.write([], checkpoint);
      for (const id of ids) {
        stored.set(id, (stored.get(id) ?? 0) + 1);
        pending.delete(id);
      }
      pendingEvents = 0;
      // Forget the oldest entries (a Map iterates in insertion order), never the summary nor one still to write.
      if (cache.size > cacheSize) {
        const keep = projection.summary?.id;
        let excess = cache.size - cacheSize;
        for (const id of cache.keys()) {
          if (excess <= 0) break;
          if (id === keep || pending.has(id)) continue;
          cache.delete(id);
          excess--;
        }
      }
    };

    /** Reads and folds pages until the log has nothing more; returns how many events it read. */
    const drain = async (): Promise<number> => {
      let read = 0;
      for (;;) {
        // Each page starts after the last one read: a position is a cursor, never counted on.
        const after = progress.position === null ? {} : { after: progress.position };
        const page: RecordedEvent[] = await eventStore.readAll({ ...after, limit: pageSize, ...(filter ? { filter } : {}) });
        // Not `return`: a log that ends on a full page still has its last pages to flush.
        if (page.length === 0) break;
        await foldPage(page);
        read += page.length;
        progress.eventsDone += page.length;
        progress.position = page[page.length - 1]!.position;
        if (pendingEvents >= flushEvery) await flush(false);
        report();
        if (page.length < pageSize) break;
        await backgroundTurn();
      }
      if (pending.size > 0) await flush(true);
      return read;
    };

    const foldPage = async (page: RecordedEvent[]) => {
      const missing = idsNeeded(projection, page).filter((id) => !cache.has(id));
      // A document written before: from a write still in flight if it is in one, else read back (its write has landed).
      const toRead: string[] = [];
      for (const id of missing) {
        const inFlight = unlanded.get(id);
        if (inFlight) cache.set(id, inFlight);
        else if (stored.has(id)) toRead.push(id);
        else cache.set(id, null);
      }
      if (toRead.length > 0) {
        const found = new Map((await shadow.getMany(toRead)).map((d) => [d.id, d]));
        for (const id of toRead) cache.set(id, found.get(id) ?? null);
      }
      const changed = new Set<string>();
      const set: WorkingSet = { docs: cache, changed };
      for (const event of page) applyEvent(projection, set, event);
      const at = progress.eventsDone + page.length;
      for (const id of changed) pending.set(id, at);
      pendingEvents += page.length;
    };

    progress.phase = 'building';
    report();
    await drain();

    progress.phase = 'catching-up';
    if (eventStore.countEvents) progress.total = Math.max(progress.eventsDone, await eventStore.countEvents(filter));
    report();
    // Catch up while live keeps going, until a pass finds little new; then hold live still for the last one.
    for (let pass = 0; pass < 10 && (await drain()) > pageSize / 10; pass++);
    if (deps.live) {
      liveStopped = true;
      await deps.live.stop(onHandover);
    }
    // Appends go on while the projector is held: what comes after this head reaches the new
    // collection through the resumed projector, like any other new event.
    const head = await eventStore.headPosition();
    await drain();

    await writer.drain();
    progress.phase = 'verifying';
    report();
    await documentStore.collection({ ...projection.collection, name: shadowName });
    const caughtUp = await nothingRelevantUpTo(eventStore, projection, progress.position, head);
    const compared = options.compare === false
      ? { shadowCount: await shadow.count(), liveCount: await (await documentStore.collection(projection.collection)).count(), differing: -1 }
      : await compareCollections(documentStore, projection, shadowName, projection.collection.name);
    progress.verification = { ...compared, caughtUp };
    if (!caughtUp) throw new Error(`rebuild of ${projection.name} stopped at ${progress.position}, before the log's head ${head}`);

    progress.phase = 'swapping';
    report();
    await documentStore.swapCollection(shadowName, projection.collection.name);
    const liveCheckpoint = checkpointOf(projection.collection.name);
    // The later of the two positions (they compare as strings in log order).
    const before = (await documentStore.getCheckpoint(liveCheckpoint)) ?? null;
    const latest = before !== null && (progress.position === null || before > progress.position) ? before : progress.position;
    if (latest !== null) await documentStore.write([], { [liveCheckpoint]: latest });
    liveStopped = false;
    await resumeLive();
    progress.phase = 'done';
    progress.finishedAt = new Date(now()).toISOString();
    report();
    return { ...progress };
  } catch (error) {
    progress.phase = 'failed';
    progress.error = error instanceof Error ? error.message : String(error);
    progress.finishedAt = new Date(now()).toISOString();
    report();
    await writer.drain().catch(() => undefined);
    await documentStore.dropCollection(shadowName).catch(() => undefined);
    throw error;
  } finally {
    if (liveStopped) await resumeLive();
  }
}

/**
 * The projection's own notion of "caught up": no event it handles lies after `after` up to
 * `head`. A forward filtered read, which EventStoreDB filters on the server.
 */
async function nothingRelevantUpTo(eventStore: EventStore, projection: AnyProjection, after: LogPosition | null, head: LogPosition | null): Promise<boolean> {
  if (head === null) return true;
  const [next] = await eventStore.readAll({ ...(after === null ? {} : { after }), limit: 1, filter: { eventTypes: [...projection.eventTypes] } });
  return next === undefined || next.position > head;
}
