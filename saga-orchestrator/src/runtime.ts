import { RecordedEventJson, type NewEvent, type RecordedEvent } from '@saga/event-schemas/envelope';
import { commandTopics, deadLetterTopic, eventTopic, streamIdFor } from '@saga/event-schemas/streams';
import type { DocumentStore, Versioned } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import { appendMany, WrongExpectedRevisionError } from '@saga/platform/event-store/port';
import type { BusMessage, MessageBus, TopicPartition } from '@saga/platform/message-bus/port';
import { partitionForKey } from '@saga/platform/message-bus/partitioner';
import { ValidationError } from '@saga/platform/errors';
import { deterministicId } from '@saga/platform/ids';
import type { Metrics } from '@saga/platform/metrics';
import { dlqHeaders } from '@saga/platform/message-bus/delivery';
import { commandsOf, statusOf, type SagaEvent, type SagaInput } from './machine';
import { sagaInputOf, sagaInputTopics } from './inputs';
import { foldSaga, issuedCommands, migratedEvent, startedEvents, transitionEvents, type IssuedCommand, type SagaRecord } from './saga-stream';
import { latestVersion, planMigration } from './definitions';
import { SagaOperatorInput, sagaOperatorTopic } from '@saga/event-schemas/saga';
import { startCommandDispatcher } from './dispatcher';
import { silentLog, type SagaLog } from './log';
import { sagaSteps, type StepName } from './steps';
import { openTimerIndex, type Deadline, type TimerEntry } from './timer-index';

/**
 * The saga runtime: bus events in, saga transitions persisted, commands out.
 *
 * For each input: load the order's saga (cache, else fold its stream), apply the input with
 * the machine's pure `transition`, and append the transition, with the commands it issued, to
 * `saga-<orderId>` at the expected revision. The commands go out through the dispatcher
 * (dispatcher.ts), an outbox relay that follows the saga transitions in the store's log and
 * publishes them with its checkpoint in the same bus transaction: persisted first, sent after,
 * and after a crash sent again from the checkpoint (receivers deduplicate by command id).
 * Deadlines are data in the stream, and a durable index (timer-index.ts) lists the running
 * sagas' deadlines by partition; the runtime fires `StepTimedOut` through the same path as any
 * input, but only once every input stored before it has been applied (a reply recorded in time
 * wins, even if it waited on the bus through a restart). Dead-lettered commands come back as
 * inputs too.
 *
 * Several instances (distributed mode, or several processes on one data directory) split the
 * sagas by the group's partitions: a saga belongs to the partition its OrderPlaced arrives on
 * (`events.order`, keyed by the order stream), and only the instance holding that partition
 * keeps a copy of the saga and fires its deadlines, read from the index when it gains the
 * partition, never by reading saga streams. Replies arrive on other topics, keyed by their own
 * streams, so any instance may receive one: it applies it from the stream at its expected
 * revision. Nothing is ignored on the word of a stale copy: a conflict or an inapplicable input
 * on a copy is checked against the stream and applied again from it.
 */
export interface SagaRuntimeDeps {
  store: EventStore;
  bus: MessageBus;
  /** Holds the timer index (`saga_timers`), shared by every instance. */
  docs: DocumentStore;
  stepTimeoutMs: number;
  clock?: () => Date;
  log?: SagaLog;
  /** How often due timers are looked for. Default: a tenth of the step timeout, 10 ms to 1 s. */
  timerTickMs?: number;
  /** Consumer group of the saga's input topics. Default `saga-orchestrator`. */
  groupId?: string;
  /**
   * The relay's checkpoint on the bus (`relay.relay` for the default relay). Given, a deadline
   * fires only once the relay has published every event stored before it; absent (inputs
   * published straight to the bus, as in tests), only the bus side is waited for.
   */
  relayCheckpoint?: string;
  /** Counts dead-lettered saga commands (`saga_commands_dead_lettered_total`). */
  metrics?: Metrics;
  /** Where a new group starts on the input topics. Default 'earliest'. */
  startFrom?: 'earliest' | 'latest';
}

export interface SagaRuntime {
  stop(): Promise<void>;
}

export const sagaGroupId = 'saga-orchestrator';

/** A write of at least this many inputs means the runtime is busy: the next one waits a turn to gather more. */
const GATHER_A_TURN = 8;
/**
 * Batches of inputs written at once (on different sagas) while the runtime is quiet: one commits
 * while another's fsync runs. Busy (the last batch had GATHER_A_TURN inputs or more), one at a
 * time, so batches stay large: with two at once under saturation, bench:saga --quick measured
 * 307-326 orders/s and 7.1-7.8 CPU ms/order with projectors 158-179/s, one at a time 341-344,
 * 6.1-6.3 and 203-207/s; and at 30/s p99 to SagaEnded 31-45 ms (43-64 with projectors) with two,
 * 88-141 (112-133) with one.
 */
const MAX_BATCHES = 2;
const batchesAtOnce = (lastBatch: number) => (lastBatch >= GATHER_A_TURN ? 1 : MAX_BATCHES);
/** How long the timer index's off-path updates (ended sagas, later deadlines) gather before they are written. */
const INDEX_UPDATE_DELAY_MS = 100;

/** Why an input changed nothing: a value, not an exception (a redelivery is normal). */
export type Ignored = 'Duplicate' | 'AlreadyStarted' | 'NoSaga' | 'NotApplicable';
export type Applied =
  | { applied: true; from: string | null; to: string; commands: IssuedCommand[]; timedOut?: { step: StepName; dueAt: string } }
  | { applied: false; reason: Ignored };

type Input =
  | { kind: 'start'; orderId: string; eventId: string; input: SagaInput; partition?: number }
  | { kind: 'feed'; orderId: string; eventId: string; event: SagaEvent }
  /** The saga's own deadline, if it is due by `at`. */
  | { kind: 'timeout'; orderId: string; at: string }
  | { kind: 'migrate'; orderId: string; eventId: string; toVersion: number; operator: string; reason: string };

/** Sagas are owned by the partitions of this topic: their OrderPlaced arrives there. */
const ownerTopic = eventTopic('order');
/** Rounds of a batch for sagas found stale before their inputs go back to the bus. */
const MAX_ROUNDS = 5;

/** A running saga's deadline, in ms since the epoch; null if it has none. */
function runningTimer(record: SagaRecord): { step: StepName; dueAt: number } | null {
  const timer = record.snapshot.context.timer;
  return timer && statusOf(record.state) === 'running' ? { step: timer.step, dueAt: Date.parse(timer.dueAt) } : null;
}

export async function startSagaRuntime(deps: SagaRuntimeDeps): Promise<SagaRuntime> {
  const { store, bus, stepTimeoutMs } = deps;
  const clock = deps.clock ?? (() => new Date());
  const log = deps.log ?? silentLog;
  const index = await openTimerIndex(deps.docs);
  /** Sagas of the partitions this instance holds, most recently used last. */
  const cache = new Map<string, SagaRecord>();
  let stopped = false;
  const groupId = deps.groupId ?? sagaGroupId;
  const deadLettered = deps.metrics?.counter('saga_commands_dead_lettered_total', 'Saga commands their receiver dead-lettered', ['type', 'step']);

  /**
   * Ownership: a saga belongs to the partition of its order stream on `events.order`, and this
   * instance owns the sagas of the partitions the group gave it there (onAssigned/onRevoked).
   * Until the partition count is known nothing counts as owned: inputs are then applied from
   * the store, which is always correct, only slower.
   */
  const owned = new Set<number>();
  let partitionCount: number | undefined;
  async function learnPartitions(): Promise<void> {
    if (partitionCount !== undefined) return;
    const partitions = (await bus.lag(groupId)).filter((p) => p.topic === ownerTopic);
    if (partitions.length > 0) partitionCount = partitions.length;
  }
  const partitionOf = (orderId: string): number | undefined =>
    partitionCount === undefined ? undefined : partitionForKey(streamIdFor.order(orderId), partitionCount);
  const owns = (orderId: string): boolean => {
    const p = partitionOf(orderId);
    return p !== undefined && owned.has(p);
  };
  function forgetPartitions(partitions: ReadonlySet<number>): void {
    for (const orderId of cache.keys()) {
      const p = partitionOf(orderId);
      if (p === undefined || partitions.has(p)) cache.delete(orderId);
    }
  }

  /** The saga as stored (`fresh`), or this instance's copy of it when it owns it and has one. */
  async function load(orderId: string, fresh: boolean): Promise<{ record: SagaRecord | null; cached: boolean }> {
    const cached = fresh ? undefined : cache.get(orderId);
    if (cached) return { record: cached, cached: true };
    const record = foldSaga(orderId, await store.readStream(streamIdFor.saga(orderId)));
    if (record) remember(record);
    return { record, cached: false };
  }

  function remember(record: SagaRecord): void {
    cache.delete(record.orderId);
    // Another instance applies this saga's inputs: a copy here would only go stale.
    if (!owns(record.orderId)) return;
    cache.set(record.orderId, record);
    // Ended sagas are rarely needed again (a late success loads them back), so the cache keeps
    // the most recently used sagas only.
    if (cache.size > 10_000) {
      for (const [id] of cache) {
        if (cache.size <= 9_000) break;
        cache.delete(id);
      }
    }
  }

  /** One input applied in memory to `record` (null: no saga yet): the next record and events, or why not. */
  function step(record: SagaRecord | null, input: Input, at: string): { record: SagaRecord; events: NewEvent[]; result: Applied } | Applied {
    const { orderId } = input;
    if (input.kind === 'start') {
      if (record) return { applied: false, reason: 'AlreadyStarted' };
      // A new saga runs the newest definition, for good (an operator may migrate it later).
      const version = latestVersion;
      const [snapshot, actions] = version.stepper.initial(input.input);
      const commands = issuedCommands(orderId, commandsOf(actions));
      const events = startedEvents(orderId, input.eventId, snapshot, commands, at, version.version);
      const state = String(snapshot.value);
      const next = { orderId, version, revision: events.length - 1, snapshot, state, seen: new Set([input.eventId]) };
      return { record: next, events, result: { applied: true, from: null, to: state, commands } };
    }
    if (!record) return { applied: false, reason: 'NoSaga' };
    if (input.kind === 'migrate') {
      if (record.seen.has(input.eventId)) return { applied: false, reason: 'Duplicate' };
      // Checked again here: the saga may have moved on since the operator's request was accepted.
      const plan = planMigration(record.version, record.state, record.snapshot.context, input.toVersion);
      if (!plan.ok) return { applied: false, reason: 'NotApplicable' };
      const events = [migratedEvent(record, { requestId: input.eventId, toVersion: input.toVersion, to: plan.to, operator: input.operator, reason: input.reason }, at)];
      const next = { ...record, version: plan.target, revision: record.revision + 1, snapshot: plan.snapshot, state: plan.to, seen: new Set([...record.seen, input.eventId]) };
      return { record: next, events, result: { applied: true, from: record.state, to: plan.to, commands: [] } };
    }
    let eventId: string;
    let event: SagaEvent;
    let timedOut: { step: StepName; dueAt: string } | undefined;
    if (input.kind === 'timeout') {
      // The saga's own deadline, not the index's (which may be early): fired only once really due.
      const timer = runningTimer(record);
      if (!timer || timer.dueAt > Date.parse(input.at)) return { applied: false, reason: 'NotApplicable' };
      const dueAt = new Date(timer.dueAt).toISOString();
      timedOut = { step: timer.step, dueAt };
      eventId = deterministicId(orderId, 'timeout', timer.step, dueAt);
      event = { type: 'StepTimedOut', step: timer.step, at: input.at };
    } else {
      eventId = input.eventId;
      event = input.event;
    }
    if (record.seen.has(eventId)) return { applied: false, reason: 'Duplicate' };
    const [snapshot, actions] = record.version.stepper.next(record.snapshot, event);
    const commands = issuedCommands(orderId, commandsOf(actions));
    if (snapshot === record.snapshot && commands.length === 0) return { applied: false, reason: 'NotApplicable' };
    const events = transitionEvents(record, { type: event.type, eventId, event }, snapshot, commands, at);
    const state = String(snapshot.value);
    const next = { ...record, revision: record.revision + events.length, snapshot, state, seen: new Set([...record.seen, eventId]) };
    return { record: next, events, result: { applied: true, from: record.state, to: state, commands, ...(timedOut ? { timedOut } : {}) } };
  }

  /**
   * Group commit. Inputs queue up while batches are being written; the next batch takes all of
   * them whose saga is not in a batch under way: each saga's inputs are applied in arrival order
   * in memory, and every saga touched is appended at its expected revision in one `appendMany`
   * (one transaction in the embedded store). A saga is in one batch at a time, so it is never
   * written twice at once in this process, and its later inputs wait for that batch.
   *
   * Up to `batchesAtOnce` batches are under way at once: the next one commits while the one before
   * waits for its fsync (the store starts a second fsync for it rather than queue it behind the
   * first), so an input waits for its own batch's sync, not for the rest of another's first.
   *
   * A copy of a saga may be stale (another instance applied an input to it), and a stale copy
   * must never make an input look inapplicable: a saga whose append conflicts, or whose cached
   * copy ignored an input as not applicable while the stream has moved on, is read again from
   * the store and its inputs applied again (a few rounds, then the bus redelivers them).
   */
  interface Pending {
    input: Input;
    resolve: (result: Applied) => void;
    reject: (error: unknown) => void;
  }
  let queue: Pending[] = [];
  /** Sagas in a batch under way. */
  const busy = new Set<string>();
  const batches = new Set<Promise<void>>();
  let gathering = false;

  function apply(input: Input): Promise<Applied> {
    return new Promise<Applied>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      startWriting();
    });
  }

  let lastBatch = 0;
  function startWriting(): void {
    if (gathering || batches.size >= batchesAtOnce(lastBatch) || queue.length === 0) return;
    gathering = true;
    // Let other inputs join the batch: when busy, those of a whole turn of the event loop
    // (other partitions' batches); when quiet, only those already on their way (the rest of
    // this bus batch), so a lone input does not wait a turn.
    const go = () => {
      gathering = false;
      launch();
    };
    if (lastBatch >= GATHER_A_TURN) setImmediate(go);
    else process.nextTick(go);
  }

  function launch(): void {
    if (batches.size >= batchesAtOnce(lastBatch)) return;
    const batch: Pending[] = [];
    const held: Pending[] = [];
    for (const p of queue) (busy.has(p.input.orderId) ? held : batch).push(p);
    queue = held;
    // Every input waits for its saga's batch: the end of that batch starts the next.
    if (batch.length === 0) return;
    const sagas = new Set(batch.map((p) => p.input.orderId));
    for (const orderId of sagas) busy.add(orderId);
    lastBatch = batch.length;
    const done: Promise<void> = write(batch)
      .catch((error: unknown) => {
        for (const p of batch) p.reject(error);
      })
      .finally(() => {
        for (const orderId of sagas) busy.delete(orderId);
        batches.delete(done);
        startWriting();
      });
    batches.add(done);
  }

  async function write(batch: Pending[]): Promise<void> {
    await learnPartitions();
    let sagas = new Map<string, Pending[]>();
    for (const p of batch) {
      const inputs = sagas.get(p.input.orderId);
      if (inputs) inputs.push(p);
      else sagas.set(p.input.orderId, [p]);
    }
    const fired = new Set<string>();
    for (let round = 1; sagas.size > 0; round++) sagas = await writeRound(sagas, round, fired);
  }

  /** One round of a batch: the sagas to try again, read from the store. */
  async function writeRound(sagas: Map<string, Pending[]>, round: number, fired: Set<string>): Promise<Map<string, Pending[]>> {
    const fresh = round > 1;
    const last = round === MAX_ROUNDS;
    const again = new Map<string, Pending[]>();
    const loaded = new Map<string, { record: SagaRecord | null; cached: boolean } | { failed: unknown }>();
    await Promise.all(
      [...sagas.keys()].map(async (orderId) => {
        try {
          loaded.set(orderId, await load(orderId, fresh));
        } catch (error) {
          loaded.set(orderId, { failed: error });
        }
      }),
    );
    const at = clock().toISOString();
    interface Work {
      orderId: string;
      base: SagaRecord | null;
      cached: boolean;
      record: SagaRecord | null;
      events: NewEvent[];
      done: { p: Pending; result: Applied }[];
      startPartition?: number;
    }
    const works: Work[] = [];
    for (const [orderId, inputs] of sagas) {
      const from = loaded.get(orderId)!;
      if ('failed' in from) {
        for (const p of inputs) p.reject(from.failed);
        continue;
      }
      const work: Work = { orderId, base: from.record, cached: from.cached, record: from.record, events: [], done: [] };
      for (const p of inputs) {
        const outcome = step(work.record, p.input, at);
        if ('events' in outcome) {
          work.record = outcome.record;
          work.events.push(...outcome.events);
          work.done.push({ p, result: outcome.result });
          if (p.input.kind === 'start') work.startPartition = p.input.partition;
          // Once per deadline and batch, however many rounds it takes.
          const timedOut = outcome.result.applied ? outcome.result.timedOut : undefined;
          if (timedOut && !fired.has(`${orderId}/${timedOut.dueAt}`)) {
            fired.add(`${orderId}/${timedOut.dueAt}`);
            log.info({ orderId, ...timedOut }, 'saga: firing a timer');
          }
        } else work.done.push({ p, result: outcome });
      }
      works.push(work);
    }

    // A cached copy that found an input inapplicable is checked against the stream first.
    const stale = new Set<string>();
    await Promise.all(
      works
        .filter((w) => w.cached && w.done.some((d) => !d.result.applied && d.result.reason === 'NotApplicable'))
        .map(async (w) => {
          if ((await store.streamRevision(streamIdFor.saga(w.orderId))) !== w.base!.revision) stale.add(w.orderId);
        }),
    );
    const redone = new Set<string>();
    const retry = (w: Work, error: unknown) => {
      cache.delete(w.orderId);
      redone.add(w.orderId);
      if (last) for (const { p } of w.done) p.reject(error);
      else again.set(w.orderId, sagas.get(w.orderId)!);
    };
    const writes: Work[] = [];
    for (const w of works) {
      if (stale.has(w.orderId)) retry(w, new Error(`saga ${w.orderId}: stale copy`));
      else if (w.events.length > 0) writes.push(w);
    }

    // The timer index first, where a deadline comes earlier than the one it replaces (timer-index.ts).
    const earlier: Deadline[] = [];
    for (const w of writes) {
      const next = runningTimer(w.record!);
      const before = w.base ? runningTimer(w.base) : null;
      if (!next || (before && before.dueAt <= next.dueAt)) continue;
      const partition = w.startPartition ?? partitionOf(w.orderId);
      if (partition === undefined) throw new Error(`saga ${w.orderId}: the partition count of ${ownerTopic} is not known yet`);
      earlier.push({ orderId: w.orderId, partition, step: next.step, dueAt: next.dueAt, baseRevision: w.base?.revision ?? -1 });
    }
    // Only the sagas whose entry is lowered wait for that write (another store, another fsync);
    // the others are appended meanwhile, in a transaction of their own.
    const lowering = new Set(earlier.map((d) => d.orderId));
    const appendAll = async (ws: Work[]) =>
      ws.length === 0
        ? []
        : appendMany(
            store,
            ws.map(({ orderId, base, events }) => ({
              streamId: streamIdFor.saga(orderId),
              events,
              expectedRevision: base ? base.revision : 'no_stream',
            })),
          );
    const plain = writes.filter((w) => !lowering.has(w.orderId));
    const lowered = writes.filter((w) => lowering.has(w.orderId));
    const settled = await Promise.allSettled([appendAll(plain), index.lower(earlier).then(() => appendAll(lowered))]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) {
      // Some of these may have been stored: forget them all, the redelivery reads the streams.
      for (const w of writes) cache.delete(w.orderId);
      throw failed.reason;
    }
    const answers = new Map<Work, Awaited<ReturnType<typeof appendMany>>[number]>();
    const [plainResults, loweredResults] = settled.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof appendMany>>>).value);
    plain.forEach((w, i) => answers.set(w, plainResults![i]!));
    lowered.forEach((w, i) => answers.set(w, loweredResults![i]!));
    const results = writes.map((w) => answers.get(w)!);
    const ended: { orderId: string; revision: number }[] = [];
    const later: Parameters<typeof index.raise>[0] = [];
    writes.forEach((w, i) => {
      const result = results[i]!;
      if (result instanceof WrongExpectedRevisionError) return retry(w, result);
      const revision = result.nextExpectedRevision;
      remember({ ...w.record!, revision });
      if (statusOf(w.record!.state) !== 'running' && (!w.base || statusOf(w.base.state) === 'running')) {
        ended.push({ orderId: w.orderId, revision });
      }
      const next = runningTimer(w.record!);
      const before = w.base ? runningTimer(w.base) : null;
      const partition = partitionOf(w.orderId);
      if (next && before && next.dueAt !== before.dueAt && !lowering.has(w.orderId) && partition !== undefined) {
        later.push({ orderId: w.orderId, partition, step: next.step, dueAt: next.dueAt, revision });
      }
      for (const { result: applied } of w.done) {
        if (applied.applied && applied.timedOut) log.info({ orderId: w.orderId, ...applied.timedOut, to: applied.to }, 'saga: step timed out');
      }
    });
    if (ended.length > 0 || later.length > 0) updateIndex(ended, later);
    for (const w of works) if (!redone.has(w.orderId)) for (const { p, result } of w.done) p.resolve(result);
    return again;
  }

  /**
   * Ended sagas leave the timer index and later deadlines replace earlier ones; off the inputs'
   * path, in order. Neither is needed for safety: an entry left behind is settled when it fires.
   * Gathered for `INDEX_UPDATE_DELAY_MS` and written together, the last word per saga only: a
   * saga moves its deadline at every step and usually ends within that time, so most of its
   * updates are never written (each was a compare-and-set and an fsync of the read-model store,
   * shared with the projectors, at every transition). Every write is fenced by the revision it
   * was taken from, so a late one never undoes a newer one, or a lowering on the inputs' path.
   */
  type IndexUpdate = { ended: true; orderId: string; revision: number } | ({ ended: false } & Parameters<typeof index.raise>[0][number]);
  const indexUpdates = new Map<string, IndexUpdate>();
  let indexTimer: NodeJS.Timeout | undefined;
  let forgetting: Promise<void> = Promise.resolve();
  function updateIndex(ended: { orderId: string; revision: number }[], later: Parameters<typeof index.raise>[0]): void {
    const note = (u: IndexUpdate) => {
      const before = indexUpdates.get(u.orderId);
      if (!before || before.revision <= u.revision) indexUpdates.set(u.orderId, u);
    };
    for (const e of ended) note({ ended: true, ...e });
    for (const l of later) note({ ended: false, ...l });
    indexTimer ??= setTimeout(flushIndexUpdates, INDEX_UPDATE_DELAY_MS);
  }
  function flushIndexUpdates(): void {
    clearTimeout(indexTimer);
    indexTimer = undefined;
    if (indexUpdates.size === 0) return;
    const updates = [...indexUpdates.values()];
    indexUpdates.clear();
    const ended = updates.flatMap((u) => (u.ended ? [{ orderId: u.orderId, revision: u.revision }] : []));
    const later = updates.flatMap(({ ended: isEnded, ...u }) => (isEnded ? [] : [u as Parameters<typeof index.raise>[0][number]]));
    forgetting = forgetting
      .then(async () => {
        await index.ended(ended);
        await index.raise(later);
      })
      .catch((error: unknown) => log.warn({ err: error, sagas: ended.length + later.length }, 'saga: could not update the timer index; its entries will be settled when due'));
  }

  async function handleMessage(message: BusMessage): Promise<void> {
    const parsed = RecordedEventJson.safeParse(JSON.parse(message.value));
    if (!parsed.success) throw new ValidationError(`not a recorded event on ${message.topic}@${message.offset}`);
    const recorded = parsed.data as RecordedEvent;
    const input = sagaInputOf(recorded, clock().toISOString(), stepTimeoutMs);
    if (input.kind === 'irrelevant') return;
    // The saga's partition is the one its OrderPlaced arrives on.
    const result = await apply(input.kind === 'start' && message.topic === ownerTopic ? { ...input, partition: message.partition } : input);
    if (!result.applied && result.reason !== 'NoSaga') {
      log.info({ orderId: input.orderId, eventId: input.eventId, type: recorded.type, reason: result.reason }, 'saga: input ignored');
    }
  }

  /**
   * A dead letter of a command this runtime issued: loud (an error in the log, a metric) and an
   * input to its saga, which is flagged and never counts the command's effect as done.
   */
  async function handleDeadLetter(message: BusMessage): Promise<void> {
    const error = message.headers[dlqHeaders.error] ?? 'unknown error';
    let envelope: { commandId?: unknown; type?: unknown; metadata?: { correlationId?: unknown } };
    try {
      envelope = JSON.parse(message.value) as typeof envelope;
    } catch {
      envelope = {};
    }
    const orderId = typeof envelope.metadata?.correlationId === 'string' ? envelope.metadata.correlationId : message.key;
    const type = typeof envelope.type === 'string' ? envelope.type : 'unknown';
    const commandId = typeof envelope.commandId === 'string' ? envelope.commandId : '';
    // Saga command ids are derived from (order, step, type), so the id names its step.
    const step = sagaSteps.find((s) => s.command === type && deterministicId(orderId, s.step, type) === commandId)?.step;
    deadLettered?.inc({ type, step: step ?? 'none' });
    log.error({ orderId, commandId, type, step, error, topic: message.headers[dlqHeaders.originalTopic] }, 'saga: a command was dead-lettered');
    if (!step) return;
    const at = clock().toISOString();
    await apply({
      kind: 'feed',
      orderId,
      eventId: deterministicId('dead-letter', message.topic, String(message.partition), String(message.offset)),
      event: { type: 'CommandDeadLettered', step, commandId, error: error.slice(0, 500), at },
    });
  }

  const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

  /**
   * Resolves once every saga input stored until now has been applied (or dead-lettered), so a
   * timer never beats a reply that was recorded before it fired but is still on its way: after
   * a restart (partitions not yet taken back), or behind a lagging consumer. First the relay
   * must have published up to the store's head, then the group must have consumed up to the ends
   * of its partitions as they are then.
   */
  async function inputsApplied(tickMs: number): Promise<boolean> {
    const head = deps.relayCheckpoint ? await store.headPosition() : null;
    if (deps.relayCheckpoint && head !== null) {
      // Bounded: a relay that is down must not stop every timer; the inputs it has not published
      // yet are then judged as before (by the order they are applied in).
      const giveUpAt = Date.now() + stepTimeoutMs;
      // The relay stores the position the store handed out; positions compare in log order as strings.
      while (!stopped && ((await bus.readCheckpoint(deps.relayCheckpoint)) ?? '') < head) {
        if (Date.now() > giveUpAt) {
          log.warn({ head, checkpoint: deps.relayCheckpoint }, 'saga: the relay is behind; firing due timers without waiting for it');
          break;
        }
        await pause(tickMs);
      }
    }
    const inputTopics: readonly string[] = sagaInputTopics;
    const ends = new Map((await bus.lag(groupId)).filter((p) => inputTopics.includes(p.topic)).map((p) => [`${p.topic}/${p.partition}`, p.end]));
    // Bounded generously too: a partition nobody consumes for that long must not hold every timer forever.
    const giveUpAt = Date.now() + 10 * stepTimeoutMs;
    while (!stopped) {
      const behind = (await bus.lag(groupId)).filter((p) => p.committed < (ends.get(`${p.topic}/${p.partition}`) ?? 0));
      if (behind.length === 0) return true;
      if (Date.now() > giveUpAt) {
        log.warn({ behind: behind.map((p) => `${p.topic}/${p.partition}`) }, 'saga: inputs still pending; firing due timers anyway');
        return true;
      }
      await pause(tickMs);
    }
    return false;
  }

  /**
   * Each tick, the deadlines due in the partitions held, from the index; they fire once the
   * inputs stored until now are applied (one check at a time), each as a `StepTimedOut` with an
   * id derived from the saga's own deadline. Afterwards the entry is set from the saga.
   */
  let checking: Promise<void> | undefined;
  const firing = new Map<string, { partition: number; done: Promise<void> }>();
  function checkTimers(tickMs: number): void {
    if (checking || owned.size === 0) return;
    checking = (async () => {
      const fence = clock().getTime();
      const due = (await index.due([...owned], fence, 500)).filter((e) => !firing.has(e.doc.id));
      if (due.length === 0 || !(await inputsApplied(tickMs))) return;
      await Promise.all(due.map((entry) => fire(entry)));
    })()
      .catch((error: unknown) => log.error({ err: error }, 'saga: checking the due timers failed; will retry'))
      .finally(() => (checking = undefined));
  }

  function fire(entry: Versioned<TimerEntry>): Promise<void> {
    const { id: orderId, partition } = entry.doc;
    // Revoked while the inputs were being waited for: the new owner fires it.
    if (!owned.has(partition) || firing.has(orderId)) return Promise.resolve();
    const done = (async () => {
      // A deadline is judged on the saga as stored: a copy another instance has since moved on
      // would fire the deadline of a step it has left (and lose the append to it).
      cache.delete(orderId);
      const result = await apply({ kind: 'timeout', orderId, at: clock().toISOString() });
      const record = result.applied || result.reason !== 'NoSaga' ? (cache.get(orderId) ?? (await load(orderId, true)).record) : null;
      const timer = record ? runningTimer(record) : null;
      await index.settle(entry, timer && record ? { ...timer, revision: record.revision } : null);
    })()
      .catch((error: unknown) => log.error({ orderId, err: error }, 'saga: firing a timer failed; will retry'))
      .finally(() => firing.delete(orderId));
    firing.set(orderId, { partition, done });
    return done;
  }

  async function assigned(partitions: TopicPartition[]): Promise<void> {
    const gained = new Set(partitions.filter((p) => p.topic === ownerTopic).map((p) => p.partition));
    if (gained.size === 0) return;
    // Whatever was kept of these sagas predates another owner's writes: read them again.
    forgetPartitions(gained);
    for (const p of gained) owned.add(p);
    log.info({ partitions: [...gained] }, 'saga: owns these partitions now');
  }

  async function revoked(partitions: TopicPartition[]): Promise<void> {
    const lost = new Set(partitions.filter((p) => p.topic === ownerTopic).map((p) => p.partition));
    if (lost.size === 0) return;
    for (const p of lost) owned.delete(p);
    forgetPartitions(lost);
    // No timer of theirs fires here once this returns (the bus hands them over after).
    await Promise.all([...firing.values()].filter((f) => lost.has(f.partition)).map((f) => f.done));
    log.info({ partitions: [...lost] }, 'saga: no longer owns these partitions');
  }

  const dispatcher = await startCommandDispatcher({ store, bus, log });
  const consumer = await bus.consume({
    groupId,
    topics: [...sagaInputTopics],
    // A batch is one partition's messages in order; they join the group commit in that order.
    batchHandler: async (messages) => {
      await Promise.all(messages.map(handleMessage));
    },
    maxBatchSize: 200,
    ...(deps.startFrom ? { startFrom: deps.startFrom } : {}),
    onAssigned: assigned,
    onRevoked: revoked,
  });
  await learnPartitions();

  const deadLetterTopics = Object.values(commandTopics).map(deadLetterTopic);
  await bus.createTopics(deadLetterTopics.map((name) => ({ name, partitions: 1 })));
  const deadLetters = await bus.consume({
    groupId: `${groupId}.dead-letters`,
    topics: deadLetterTopics,
    handler: handleDeadLetter,
  });

  /** An operator's action or migration (accepted by the routes): applied like any input, recorded in the saga's stream. */
  async function handleOperatorInput(message: BusMessage): Promise<void> {
    const parsed = SagaOperatorInput.safeParse(JSON.parse(message.value));
    if (!parsed.success) throw new ValidationError(`not a saga operator input on ${message.topic}@${message.offset}`);
    const request = parsed.data;
    const eventId = deterministicId('operator', request.orderId, request.requestId);
    const input: Input =
      request.kind === 'migrate'
        ? { kind: 'migrate', orderId: request.orderId, eventId, toVersion: request.toVersion, operator: request.operator, reason: request.reason }
        : {
            kind: 'feed',
            orderId: request.orderId,
            eventId,
            event: { type: 'OperatorActed', action: request.action, operator: request.operator, reason: request.reason, at: clock().toISOString() },
          };
    const result = await apply(input);
    log.info({ orderId: request.orderId, request: request.kind === 'migrate' ? `migrate to ${request.toVersion}` : request.action, operator: request.operator, result }, 'saga: operator input');
  }
  await bus.createTopics([{ name: sagaOperatorTopic }]);
  const operatorInputs = await bus.consume({ groupId: `${groupId}.operator`, topics: [sagaOperatorTopic], handler: handleOperatorInput });

  const tickMs = deps.timerTickMs ?? Math.min(1_000, Math.max(10, Math.floor(stepTimeoutMs / 10)));
  const timerLoop = setInterval(() => {
    if (!stopped) checkTimers(tickMs);
  }, tickMs);

  return {
    async stop() {
      stopped = true;
      clearInterval(timerLoop);
      await checking;
      await deadLetters.stop();
      await operatorInputs.stop();
      await consumer.stop();
      // Inputs held back for their saga's batch are written after it: wait for those too.
      while (batches.size > 0 || queue.length > 0) {
        if (batches.size > 0) await Promise.all(batches);
        else {
          startWriting();
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      flushIndexUpdates();
      await forgetting;
      await dispatcher.stop();
    },
  };
}
