import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { RecordedEventJson } from '@saga/event-schemas/envelope';
import type { BusMessage, Consumer, MessageBus } from '@saga/platform/message-bus/port';
import { joinLease } from '@saga/platform/message-bus/lease';
import { backgroundTurn } from '@saga/platform/turns';
import type { Collection, Document, DocumentStore, Versioned, WriteOp } from '@saga/platform/document-store/port';
import {
  applyEvent,
  appliedRevision,
  checkpointOf,
  groupIdOf,
  handles,
  idsNeeded,
  topicsOf,
  type AnyProjection,
  type ProjectedDoc,
  type WorkingSet,
} from './projection';
import { CONTROL_TOPIC, decodeControl, encodeControl, ensureControlTopic, HEARTBEAT_MS, REPLICAS, type ReplicaDoc } from '../rebuild/control';
import { currentLease } from '../rebuild/lease';

/** What one applied batch changed: the documents as now stored, and the events behind them. */
export interface ProjectionChange {
  projection: string;
  docs: Document[];
  events: RecordedEvent[];
  /** Highest global position this projection has applied so far (null: none yet). */
  position: LogPosition | null;
}

export type ProjectorState = 'stopped' | 'running' | 'paused';

export interface ProjectorStatus {
  name: string;
  state: ProjectorState;
  groupId: string;
  topics: string[];
  position: LogPosition | null;
  eventsApplied: number;
  eventsSkipped: number;
  lastError: string | null;
  /** This replica's name on the rebuild hand-over roster. */
  replica: string;
}

export interface ProjectorRunner {
  readonly projection: AnyProjection;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Applies a batch in the order given; exposed so a replay or a test can feed events directly. */
  applyBatch(events: RecordedEvent[]): Promise<ProjectionChange | null>;
  onChange(listener: (change: ProjectionChange) => void): () => void;
  status(): ProjectorStatus;
}

/**
 * The type of a message that begins `{"eventId":"…","type":"…"`, as JSON.stringify writes a
 * recorded event: anchored, and with no quote or backslash inside either string, this is the
 * top-level type exactly as JSON.parse reads it. Any other message is parsed.
 */
const LEADING_TYPE = /^\{"eventId":"[^"\\]*","type":"([^"\\]*)"/;

/** A summary document as a store without atomic batches keeps it: with the documents it promises. */
type SummaryDoc = Document & { _pending?: Document[] };

const withoutPromises = (doc: Document): Document => {
  const { _pending: _ignored, ...rest } = doc as SummaryDoc;
  return rest;
};

/** Whether `doc` has applied every stream revision that `promise` has. */
function covers(doc: ProjectedDoc | undefined, promise: ProjectedDoc): boolean {
  for (const { s, r } of promise._applied) if (appliedRevision(doc ?? null, s) < r) return false;
  return true;
}

/** About how long one write of a batch may hold the event loop. */
const SLICE_MS = 6;
/** Parts never smaller than this (each is a transaction); only parts this large are timed. */
const MIN_PART = 64;
const MAX_PART = 4_096;

/** The part size that would have taken SLICE_MS, by the last part's time (smoothed). */
export function nextPartSize(current: number, events: number, tookMs: number): number {
  const fitting = tookMs > 0 ? (events * SLICE_MS) / tookMs : MAX_PART;
  return Math.round(Math.min(MAX_PART, Math.max(MIN_PART, 0.5 * current + 0.5 * fitting)));
}

/** Where an admin replay for one consumer group is published; only that group reads it. */
export const replayTopicOf = (groupId: string): string => `replay.${groupId}`;

export interface ProjectorRunnerDeps {
  bus: MessageBus;
  store: DocumentStore;
  projection: AnyProjection;
  maxBatchSize?: number;
  onError?: (error: unknown) => void;
  /** This replica's name for the rebuild hand-over; default host, pid and a random suffix. */
  replica?: string;
  /** false: not on the hand-over roster, never paused by a rebuild (a test driving the batch handler alone). */
  handover?: boolean;
}

/**
 * Consumes a projection's topics in its own consumer group (`projection-<name>`) and applies
 * each batch with one atomic write: the changed documents and the position checkpoint.
 * Batches from different partitions are applied one at a time, because one document is fed
 * by several streams (an order by its order, payment, email and saga streams), and two
 * concurrent read-modify-writes of it would lose one.
 *
 * While it runs it is a replica on the rebuild hand-over roster (see `rebuild/control.ts`):
 * a rebuild in any process pauses it across the swap through the bus's control topic.
 */
export function createProjectorRunner(deps: ProjectorRunnerDeps): ProjectorRunner {
  const { bus, store, projection } = deps;
  const groupId = groupIdOf(projection);
  const topics = [...topicsOf(projection), replayTopicOf(groupId)];
  const checkpoint = checkpointOf(projection.collection.name);
  const listeners = new Set<(change: ProjectionChange) => void>();
  let consumer: Consumer | null = null;
  let state: ProjectorState = 'stopped';
  let position: LogPosition | null = null;
  let positionLoaded = false;
  let eventsApplied = 0;
  let eventsSkipped = 0;
  let lastError: string | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  let collection: Collection<Document> | undefined;
  const replica = deps.replica ?? `${hostname()}:${process.pid}:${projection.name}:${randomUUID().slice(0, 8)}`;
  let control: Consumer | null = null;
  let heartbeat: NodeJS.Timeout | undefined;
  /** The rebuild this replica is paused for. */
  let pausedFor: string | null = null;

  /**
   * The batch's events this projection handles, decoded. The type is read from the plain JSON
   * first, so the envelope of an event the projection ignores is never checked nor copied; a
   * message without a string type still goes through the check, which rejects it. An event
   * the relay wrote (`eventId` then `type` first) shows its type in its first characters, so an
   * ignored one is not even parsed (every group reads every message of its topics: the stats
   * group skips five events an order).
   */
  function decodeRelevant(messages: BusMessage[]): RecordedEvent[] {
    const events: RecordedEvent[] = [];
    for (const message of messages) {
      const sniffed = LEADING_TYPE.exec(message.value)?.[1];
      if (sniffed !== undefined && !handles(projection, { type: sniffed })) continue;
      const raw: unknown = JSON.parse(message.value);
      const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
      if (typeof type === 'string' && !handles(projection, { type })) continue;
      events.push(RecordedEventJson.parse(raw) as RecordedEvent);
    }
    return events;
  }

  /** Events written at once: adjusted to the time the last parts took (see `nextPartSize`). */
  let partSize = 256;

  async function apply(events: RecordedEvent[]): Promise<ProjectionChange | null> {
    if (!positionLoaded) {
      position = ((await store.getCheckpoint(checkpoint)) ?? null) as LogPosition | null;
      positionLoaded = true;
    }
    const relevant = events.filter((e) => handles(projection, e));
    if (relevant.length === 0) return null;
    // Opened (and its table and indexes ensured) once, not per batch: a handle names the
    // collection, so after a rebuild swaps a new one in under that name it reads the new one.
    // A failed batch drops it, so the next one opens (and ensures) it again.
    collection ??= await store.collection(projection.collection);
    // In parts sized to take about SLICE_MS each, with a turn of the event loop between them: a
    // backlog joins every partition's batch into one (4,000 events), and one write of all of
    // them held every request back 40 ms. Each part is one atomic write with its checkpoint,
    // and the documents record what they applied, so a crash between two parts loses nothing.
    const written = new Map<string, Document>();
    const applied: RecordedEvent[] = [];
    for (let from = 0; from < relevant.length; ) {
      if (from > 0) await backgroundTurn();
      const part = relevant.slice(from, from + partSize);
      from += part.length;
      // Positions are opaque but compare as strings in log order.
      let maxPosition = position;
      for (const e of part) if (maxPosition === null || e.position > maxPosition) maxPosition = e.position;
      const began = performance.now();
      const result = await writeWithRetry(collection, part, maxPosition!);
      if (part.length >= MIN_PART) partSize = nextPartSize(partSize, part.length, performance.now() - began);
      for (const doc of result.docs) written.set(doc.id, doc);
      applied.push(...result.applied);
      eventsSkipped += part.length - result.applied.length;
      eventsApplied += result.applied.length;
      position = maxPosition;
    }
    if (written.size === 0) return null;
    const change: ProjectionChange = {
      projection: projection.name,
      docs: [...written.values()],
      events: applied,
      position,
    };
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (error) {
        deps.onError?.(error);
      }
    }
    return change;
  }

  /**
   * The documents this runner last read or wrote, each at the version the store gave it then,
   * so that the next batch on an order need not read and parse it again: an order's document
   * is written a dozen times within seconds. A stale entry is harmless: versions only grow within
   * a collection, so if anyone else wrote the document since, the compare-and-set conflicts and
   * the batch reloads from the store, bypassing this. Dropped whenever the collection handle is
   * (a failed batch, a start or a resume after a rebuild swapped a new collection in), and bounded.
   */
  const known = new Map<string, Versioned<Document>>();
  const KNOWN_MAX = 20_000;
  function remember(v: Versioned<Document>): void {
    known.delete(v.doc.id);
    known.set(v.doc.id, v);
    if (known.size > KNOWN_MAX) known.delete(known.keys().next().value as string);
  }
  function forget(): void {
    collection = undefined;
    known.clear();
  }

  /** The documents among `ids` that exist, from `known` where allowed, the rest from the store. */
  async function load(coll: Collection<Document>, ids: string[], cached: boolean): Promise<Versioned<Document>[]> {
    const out: Versioned<Document>[] = [];
    const missing: string[] = [];
    for (const id of ids) {
      const hit = cached ? known.get(id) : undefined;
      if (hit) out.push(hit);
      else missing.push(id);
    }
    if (missing.length === 0) return out;
    for (const v of await coll.getVersioned(missing)) {
      remember(v);
      out.push(v);
    }
    return out;
  }

  /**
   * Compare-and-set by version: another replica may write the same document (an order is fed
   * from several topics). On a conflict the batch reads again and folds again; a document that
   * did land (a store without atomic batches, no summary) has recorded its events and skips them.
   * With a summary, the store's batches are all or nothing here, so the documents and the summary
   * moved by them land together or not at all, even when the process dies between two tries; a
   * store that applies ops one by one goes through `commitThroughSummary` instead.
   */
  async function writeWithRetry(coll: Collection<Document>, relevant: RecordedEvent[], mark: string) {
    if (projection.summary && !store.atomicBatches) return commitThroughSummary(coll, relevant, mark, projection.summary);
    const name = projection.collection.name;
    const summary = projection.summary;
    const ids = idsNeeded(projection, relevant).filter((id) => id !== summary?.id);
    const written = new Map<string, Document>();
    const applied = new Set<RecordedEvent>();
    for (let attempt = 0; ; attempt++) {
      if (attempt > 50) throw new Error(`projection ${projection.name}: gave up after 50 conflicting writes`);
      // One read for the documents and the summary.
      let current: Versioned<Document> | undefined;
      const befores = new Map<string, Versioned<Document>>();
      for (const v of await load(coll, summary ? [...ids, summary.id] : ids, attempt === 0)) {
        if (v.doc.id === summary?.id) current = v;
        else befores.set(v.doc.id, v);
      }
      const set: WorkingSet = { docs: new Map(ids.map((id) => [id, befores.get(id)?.doc ?? null])), changed: new Set() };
      for (const event of relevant) if (applyEvent(projection, set, event, false)) applied.add(event);
      const changed = [...set.changed];
      const ops: WriteOp[] = changed.map((id) => ({ collection: name, op: 'put', doc: set.docs.get(id) as Document, expectedVersion: befores.get(id)?.version ?? 0 }));
      if (summary && changed.length > 0) {
        let total: Document = current?.doc ?? summary.initial();
        for (const id of changed) {
          const before = befores.get(id)?.doc;
          if (before) total = summary.add(total, before, -1);
          total = summary.add(total, set.docs.get(id) as Document, 1);
        }
        ops.push({ collection: name, op: 'put', doc: total, expectedVersion: current?.version ?? 0 });
      }
      const { conflicts } = await store.write(ops, { [checkpoint]: mark });
      // An atomic store applied none of the batch if any op conflicted: every op is lost.
      const lost = new Set(store.atomicBatches && conflicts.length > 0 ? ops.map((op) => (op.op === 'put' ? op.doc.id : op.id)) : conflicts.map((c) => c.id));
      for (const op of ops) {
        if (op.op !== 'put') continue;
        if (lost.has(op.doc.id)) known.delete(op.doc.id);
        else {
          if (op.doc.id !== summary?.id) written.set(op.doc.id, op.doc);
          remember({ doc: op.doc, version: op.expectedVersion + 1 });
        }
      }
      if (lost.size === 0) break;
    }
    return { docs: [...written.values()], applied: relevant.filter((e) => applied.has(e)) };
  }

  /**
   * A batch with a summary, on a store that applies ops one by one (MongoDB): the summary's
   * compare-and-set is the batch's commit point. It is written first, moved by the batch's
   * changes and carrying the changed documents themselves (`_pending`); the documents are
   * written after it, and then the summary again without them. A process killed in between
   * leaves the summary promising documents that are not stored: the next batch of any replica
   * reads the summary, writes each promised
   * document that is not stored yet (rolls it forward; compare-and-set, so a late write of the
   * original writer then conflicts harmlessly), and only then drops the promise. Every writer of
   * such a document commits through the summary first, so a promised document is either stored
   * (its `_applied` covers the promise's) or still at the version before it.
   */
  async function commitThroughSummary(coll: Collection<Document>, relevant: RecordedEvent[], mark: string, summary: NonNullable<AnyProjection['summary']>) {
    const name = projection.collection.name;
    const ids = idsNeeded(projection, relevant).filter((id) => id !== summary.id);
    for (let attempt = 0; ; attempt++) {
      if (attempt > 50) throw new Error(`projection ${projection.name}: gave up after 50 conflicting writes`);
      const cached = attempt === 0;
      const stored = new Map<string, Versioned<Document>>();
      let current: Versioned<Document> | undefined;
      for (const v of await load(coll, [...ids, summary.id], cached)) {
        if (v.doc.id === summary.id) current = v;
        else stored.set(v.doc.id, v);
      }
      const promised = ((current?.doc as SummaryDoc | undefined)?._pending ?? []) as ProjectedDoc[];
      const elsewhere = promised.map((p) => p.id).filter((id) => !stored.has(id));
      if (elsewhere.length > 0) for (const v of await load(coll, elsewhere, cached)) stored.set(v.doc.id, v);
      // Keep each promise: roll forward the ones not stored yet.
      const rollForward: WriteOp[] = [];
      for (const promise of promised) {
        const now = stored.get(promise.id);
        if (covers(now?.doc as ProjectedDoc | undefined, promise)) continue;
        if (now && !covers(promise, now.doc as ProjectedDoc)) {
          deps.onError?.(new Error(`projection ${projection.name}: document ${promise.id} has events its promise in the summary lacks; keeping the stored one`));
          continue;
        }
        rollForward.push({ collection: name, op: 'put', doc: promise, expectedVersion: now?.version ?? 0 });
      }
      if (rollForward.length > 0) {
        const { conflicts } = await store.write(rollForward);
        if (conflicts.length > 0) {
          for (const c of conflicts) known.delete(c.id);
          continue; // someone wrote one of them meanwhile: read everything again
        }
        for (const op of rollForward) {
          if (op.op !== 'put') continue;
          const v = { doc: op.doc, version: op.expectedVersion + 1 };
          stored.set(op.doc.id, v);
          remember(v);
        }
      }
      const set: WorkingSet = { docs: new Map(ids.map((id) => [id, stored.get(id)?.doc ?? null])), changed: new Set() };
      const applied = new Set<RecordedEvent>();
      for (const event of relevant) if (applyEvent(projection, set, event, false)) applied.add(event);
      const changed = [...set.changed];
      if (changed.length === 0 && promised.length === 0) {
        await store.write([], { [checkpoint]: mark });
        return { docs: [], applied: [] };
      }
      let sum: Document = current ? withoutPromises(current.doc) : { ...summary.initial(), id: summary.id };
      for (const id of changed) {
        const before = stored.get(id)?.doc;
        if (before) sum = summary.add(sum, before, -1);
        sum = summary.add(sum, set.docs.get(id) as Document, 1);
      }
      const afters = changed.map((id) => set.docs.get(id) as Document);
      const committed: Document = { ...sum, id: summary.id, _pending: afters };
      const commit = await store.write([{ collection: name, op: 'put', doc: committed, expectedVersion: current?.version ?? 0 }]);
      if (commit.conflicts.length > 0) {
        known.delete(summary.id);
        continue;
      }
      remember({ doc: committed, version: (current?.version ?? 0) + 1 });
      // Committed: the documents now only materialise what the summary promises.
      const ops: WriteOp[] = afters.map((doc) => ({ collection: name, op: 'put', doc, expectedVersion: stored.get(doc.id)?.version ?? 0 }));
      const { conflicts } = await store.write(ops, { [checkpoint]: mark });
      const lost = new Set(conflicts.map((c) => c.id));
      for (const op of ops) {
        if (op.op !== 'put') continue;
        // Lost: another replica rolled it forward already (and maybe moved it on).
        if (lost.has(op.doc.id)) known.delete(op.doc.id);
        else remember({ doc: op.doc, version: op.expectedVersion + 1 });
      }
      if (lost.size > 0) await store.write([], { [checkpoint]: mark });
      // Every promise kept: the summary drops them, so readers and compares see no bookkeeping and
      // the next batch reads no document for them. Lost to a newer commit, that one dropped them.
      const clean = await store.write([{ collection: name, op: 'put', doc: sum, expectedVersion: (current?.version ?? 0) + 1 }]);
      if (clean.conflicts.length > 0) known.delete(summary.id);
      else remember({ doc: sum, version: (current?.version ?? 0) + 2 });
      return { docs: afters, applied: relevant.filter((e) => applied.has(e)) };
    }
  }

  function enqueue(events: RecordedEvent[]): Promise<ProjectionChange | null> {
    const run = queue.then(() => apply(events)).catch((error: unknown) => {
      forget();
      throw error;
    });
    queue = run.catch(() => undefined);
    return run;
  }

  function applyBatch(events: RecordedEvent[]): Promise<ProjectionChange | null> {
    return enqueue(events);
  }

  interface Joint {
    events: RecordedEvent[];
    batches: number;
    run: Promise<unknown>;
  }
  /** The consumer's batches not yet started, to be applied as one. */
  let gathering: Joint | undefined;

  /**
   * Batches from other partitions that arrive while one is applied join the next apply: one
   * read and one atomic write for all of them instead of one each. A partition's next batch
   * comes only after its previous one resolved, so each stream's events stay in order. If a
   * joint apply fails, each batch in it is applied again alone, so only the one at fault fails
   * (and is retried and dead-lettered by the bus), never a good batch beside it.
   */
  function applyFromBus(events: RecordedEvent[]): Promise<unknown> {
    let joint = gathering;
    if (joint) {
      for (const e of events) joint.events.push(e);
      joint.batches++;
    } else {
      const fresh: Joint = { events: events.slice(), batches: 1, run: Promise.resolve() };
      fresh.run = queue.then(() => {
        if (gathering === fresh) gathering = undefined;
        return enqueue(fresh.events);
      });
      gathering = joint = fresh;
    }
    const shared = joint;
    return shared.run.catch((error: unknown) => (shared.batches > 1 ? enqueue(events) : Promise.reject(error)));
  }

  async function startConsuming(): Promise<void> {
    if (consumer) return;
    consumer = await bus.consume({
      groupId,
      topics,
      maxBatchSize: deps.maxBatchSize ?? 500,
      batchHandler: async (messages) => {
        try {
          const events = decodeRelevant(messages);
          // Nothing for this projection: no read, no write (the checkpoint moves with the next relevant batch).
          if (events.length > 0) await applyFromBus(events);
          lastError = null;
        } catch (error) {
          lastError = error instanceof Error ? error.message : String(error);
          deps.onError?.(error);
          throw error;
        }
      },
    });
  }

  /**
   * On a store whose compare-and-set is not atomic (FerretDB), two replicas writing one document
   * at once can both win and lose an update: there one replica of a projection writes at a time.
   * The one its lease group (one partition of the lease topic, nothing ever published there)
   * assigns consumes; the others stand by, and the group hands the lease on when the holder
   * stops or dies (its session). A handover overlaps at most the batch the old holder has in
   * flight when the rebalance begins. Each projection has a lease of its own (held by any replica).
   */
  const exclusive = !store.atomicCompareAndSet;
  let writerLease: Consumer | null = null;
  /** Whether this replica may consume: always where the store's compare-and-set is atomic. */
  let mayWrite = !exclusive;
  /** Lease changes apply one after another, and after the start or resume that came before. */
  let leaseChanges: Promise<unknown> = Promise.resolve();

  async function consumeIfWriter(): Promise<void> {
    if (mayWrite) await startConsuming();
  }

  async function joinWriterLease(): Promise<void> {
    if (!exclusive || writerLease) return;
    writerLease = await joinLease(bus, {
      groupId: `lease.projection-${projection.name}`,
      sessionTimeoutMs: 6_000,
      onChange: (held) => {
        if (held === mayWrite) return;
        mayWrite = held;
        leaseChanges = leaseChanges
          .then(() => (!held ? stopConsuming() : state === 'running' ? startConsuming() : undefined))
          .catch((error: unknown) => deps.onError?.(error));
      },
    });
  }

  /** Stops fetching; the batch in flight lands and commits before this resolves. */
  async function stopConsuming(): Promise<void> {
    const running = consumer;
    consumer = null;
    if (running) await running.stop();
    await queue;
  }

  // The rebuild hand-over (rebuild/control.ts): roster entry, control topic, pause and resume.
  let rosterVersion = 0;
  async function beat(): Promise<void> {
    const doc: ReplicaDoc = { id: replica, projection: projection.name, replica, state: state === 'paused' ? 'paused' : 'running', seenAt: Date.now() };
    const { conflicts } = await store.write([{ collection: REPLICAS.name, op: 'put', doc, expectedVersion: rosterVersion }]);
    if (conflicts.length === 0) rosterVersion++;
    else {
      const replicas = await store.collection<ReplicaDoc>(REPLICAS);
      rosterVersion = (await replicas.getVersioned([replica]))[0]?.version ?? 0;
    }
  }
  async function leaveRoster(): Promise<void> {
    const replicas = await store.collection<ReplicaDoc>(REPLICAS);
    const [mine] = await replicas.getVersioned([replica]);
    if (mine) await store.write([{ collection: REPLICAS.name, op: 'delete', id: replica, expectedVersion: mine.version }]);
    rosterVersion = 0;
  }

  async function joinControl(): Promise<void> {
    await ensureControlTopic(bus);
    await store.collection<ReplicaDoc>(REPLICAS);
    let heard: () => void = () => undefined;
    const subscribed = new Promise<void>((resolve) => (heard = resolve));
    control = await bus.consume({
      groupId: `projector-control.${replica}`,
      topics: [CONTROL_TOPIC],
      startFrom: 'latest',
      // Named afresh at each start: nothing of it is kept once it stops.
      ephemeral: true,
      handler: async (message) => {
        const m = decodeControl(message);
        if (!m || m.projection !== projection.name) return;
        if (m.kind === 'hello' && m.replica === replica) heard();
        else if (m.kind === 'pause') await onPause(m.rebuildId);
        else if (m.kind === 'resume') await onResume(m.rebuildId);
      },
    });
    // Its own hello coming back proves the subscription is live (a broker's "latest" is resolved
    // asynchronously): every command published from now on reaches this replica.
    await bus.publish(CONTROL_TOPIC, [encodeControl({ kind: 'hello', projection: projection.name, replica })]);
    await Promise.race([subscribed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    await beat();
    heartbeat = setInterval(() => {
      void beat().catch((error: unknown) => deps.onError?.(error));
      if (state === 'paused') void watchLease().catch((error: unknown) => deps.onError?.(error));
    }, HEARTBEAT_MS);
    heartbeat.unref();
  }

  function pause(rebuildId: string): void {
    state = 'paused';
    pausedFor = rebuildId;
  }

  async function onPause(rebuildId: string): Promise<void> {
    if (state === 'stopped') return;
    if (state === 'running') {
      pause(rebuildId);
      await stopConsuming();
      await beat();
    }
    pausedFor = rebuildId;
    await bus.publish(CONTROL_TOPIC, [encodeControl({ kind: 'paused', projection: projection.name, rebuildId, replica })]);
  }

  async function onResume(rebuildId: string): Promise<void> {
    if (state === 'stopped') return;
    if (state === 'paused') await resume();
    await bus.publish(CONTROL_TOPIC, [encodeControl({ kind: 'resumed', projection: projection.name, rebuildId, replica })]);
  }

  async function resume(): Promise<void> {
    state = 'running';
    pausedFor = null;
    // The swap put a new collection under the name: opened (and its indexes ensured) again,
    // and nothing known of the old one's documents and versions is kept.
    forget();
    await consumeIfWriter();
    await beat();
  }

  /** A paused replica whose rebuild is gone (finished, failed, or its holder dead) resumes by itself. */
  async function watchLease(): Promise<void> {
    const lease = await currentLease(store, projection.name);
    if (state === 'paused' && (lease === null || lease.state !== 'handover' || lease.rebuildId !== pausedFor)) await resume();
  }

  return {
    projection,
    applyBatch,
    async start() {
      if (state !== 'stopped') return;
      state = 'running';
      // Stopped, the collection may have been swapped (a rebuild holding this runner as its live projector).
      forget();
      await bus.createTopics(topics.map((name) => ({ name }))); // the bus's BUS_PARTITIONS, as every service
      await joinWriterLease();
      if (deps.handover === false) return consumeIfWriter();
      await joinControl();
      // Read after joining the roster: a rebuild that set its lease before then waits for this replica.
      const lease = await currentLease(store, projection.name);
      if (lease?.state === 'handover') pause(lease.rebuildId);
      else await consumeIfWriter();
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      pausedFor = null;
      clearInterval(heartbeat);
      const controlling = control;
      control = null;
      await controlling?.stop();
      await stopConsuming();
      // After its last batch: the lease passes on once nothing of this replica's is in flight.
      const leasing = writerLease;
      writerLease = null;
      mayWrite = !exclusive;
      await leasing?.stop();
      await leaseChanges;
      await stopConsuming(); // one a lease change started while this stop began
      if (deps.handover !== false) await leaveRoster().catch((error: unknown) => deps.onError?.(error));
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    status() {
      return {
        name: projection.name,
        state,
        groupId,
        topics,
        position,
        eventsApplied,
        eventsSkipped,
        lastError,
        replica,
      };
    },
  };
}
