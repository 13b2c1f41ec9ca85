import { RecordedEventJson, type NewEvent, type RecordedEvent } from '@saga/event-schemas/envelope';
import { commandTopics, deadLetterTopic, idOf, streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { appendMany, WrongExpectedRevisionError } from '@saga/platform/event-store/port';
import type { BusMessage, MessageBus } from '@saga/platform/message-bus/port';
import { ValidationError } from '@saga/platform/errors';
import { deterministicId } from '@saga/platform/ids';
import type { Metrics } from '@saga/platform/metrics';
import { dlqHeaders } from '@saga/platform/message-bus/delivery';
import { commandsOf, statusOf, type SagaEvent, type SagaInput } from './machine';
import { sagaInputOf, sagaInputTopics } from './inputs';
import { foldSaga, issuedCommands, migratedEvent, restore, startedEvents, transitionEvents, type IssuedCommand, type SagaRecord } from './saga-stream';
import { latestVersion, planMigration } from './definitions';
import { SagaOperatorInput, sagaOperatorTopic } from '@saga/event-schemas/saga';
import { startCommandDispatcher } from './dispatcher';
import { silentLog, type SagaLog } from './log';
import { sagaSteps, type StepName } from './steps';

/**
 * The saga runtime: bus events in, saga transitions persisted, commands out.
 *
 * For each input: load the order's saga (cache, else fold its stream), apply the input with
 * the machine's pure `transition`, and append the transition, with the commands it issued, to
 * `saga-<orderId>` at the expected revision. The commands go out through the dispatcher
 * (dispatcher.ts), an outbox relay that follows the saga transitions in the store's log and
 * publishes them with its checkpoint in the same bus transaction: persisted first, sent after,
 * and after a crash sent again from the checkpoint (receivers deduplicate by command id).
 * Deadlines are data in the stream; the runtime keeps an index of them, rebuilt at start
 * from the saga streams, and fires `StepTimedOut` through the same path as any input, but only
 * once every input stored before it has been applied (a reply recorded in time wins, even if it
 * waited on the bus through a restart). Dead-lettered commands come back as inputs too.
 *
 * Several instances (distributed mode) split the input partitions among them. Events are keyed
 * by their stream, so one saga's inputs may reach two instances; the expected revision keeps
 * two writers of one saga from both succeeding, and the loser retries from the stream. Each instance still fires every deadline it knows of
 * and runs a dispatcher, so commands can go out more than once: receivers deduplicate.
 */
export interface SagaRuntimeDeps {
  store: EventStore;
  bus: MessageBus;
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
}

export interface SagaRuntime {
  stop(): Promise<void>;
}

export const sagaGroupId = 'saga-orchestrator';

/** A write of at least this many inputs means the runtime is busy: the next one waits a turn to gather more. */
const GATHER_A_TURN = 8;

/** Why an input changed nothing: a value, not an exception (a redelivery is normal). */
export type Ignored = 'Duplicate' | 'AlreadyStarted' | 'NoSaga' | 'NotApplicable';
export type Applied = { applied: true; from: string | null; to: string; commands: IssuedCommand[] } | { applied: false; reason: Ignored };

type Input =
  | { kind: 'start'; orderId: string; eventId: string; input: SagaInput }
  | { kind: 'feed'; orderId: string; eventId: string; event: SagaEvent }
  | { kind: 'migrate'; orderId: string; eventId: string; toVersion: number; operator: string; reason: string };

export async function startSagaRuntime(deps: SagaRuntimeDeps): Promise<SagaRuntime> {
  const { store, bus, stepTimeoutMs } = deps;
  const clock = deps.clock ?? (() => new Date());
  const log = deps.log ?? silentLog;
  const cache = new Map<string, SagaRecord>();
  /** Running sagas' deadlines (ms since epoch), by order id. */
  const timers = new Map<string, { step: StepName; dueAt: number }>();
  let stopped = false;
  const groupId = deps.groupId ?? sagaGroupId;
  const deadLettered = deps.metrics?.counter('saga_commands_dead_lettered_total', 'Saga commands their receiver dead-lettered', ['type', 'step']);

  async function load(orderId: string): Promise<SagaRecord | null> {
    const cached = cache.get(orderId);
    if (cached) return cached;
    const record = foldSaga(orderId, await store.readStream(streamIdFor.saga(orderId)));
    if (!record) return null;
    remember(record);
    return record;
  }

  function remember(record: SagaRecord): void {
    const timer = record.snapshot.context.timer;
    if (timer && statusOf(record.state) === 'running') timers.set(record.orderId, { step: timer.step, dueAt: Date.parse(timer.dueAt) });
    else timers.delete(record.orderId);
    cache.delete(record.orderId);
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
    if (record.seen.has(input.eventId)) return { applied: false, reason: 'Duplicate' };
    if (input.kind === 'migrate') {
      // Checked again here: the saga may have moved on since the operator's request was accepted.
      const plan = planMigration(record.version, record.state, record.snapshot.context, input.toVersion);
      if (!plan.ok) return { applied: false, reason: 'NotApplicable' };
      const events = [migratedEvent(record, { requestId: input.eventId, toVersion: input.toVersion, to: plan.to, operator: input.operator, reason: input.reason }, at)];
      const next = { ...record, version: plan.target, revision: record.revision + 1, snapshot: plan.snapshot, state: plan.to, seen: new Set([...record.seen, input.eventId]) };
      return { record: next, events, result: { applied: true, from: record.state, to: plan.to, commands: [] } };
    }
    const [snapshot, actions] = record.version.stepper.next(record.snapshot, input.event);
    const commands = issuedCommands(orderId, commandsOf(actions));
    if (snapshot === record.snapshot && commands.length === 0) return { applied: false, reason: 'NotApplicable' };
    const events = transitionEvents(record, { type: input.event.type, eventId: input.eventId, event: input.event }, snapshot, commands, at);
    const state = String(snapshot.value);
    const next = { ...record, revision: record.revision + events.length, snapshot, state, seen: new Set([...record.seen, input.eventId]) };
    return { record: next, events, result: { applied: true, from: record.state, to: state, commands } };
  }

  /**
   * Group commit. Inputs queue up while a batch is being written; the next batch takes all of
   * them: each saga's inputs are applied in arrival order in memory, and every saga touched is
   * appended at its expected revision in one `appendMany` (one transaction in the embedded
   * store). One batch at a time, so one saga is never written twice at once in this process.
   * A saga whose append fails (another writer: WrongExpectedRevisionError) fails all its inputs
   * of the batch and is dropped from the cache; the bus redelivers them and they apply from
   * the stream. The other sagas of the batch are unaffected.
   */
  interface Pending {
    input: Input;
    resolve: (result: Applied) => void;
    reject: (error: unknown) => void;
  }
  let queue: Pending[] = [];
  let writing: Promise<void> | undefined;

  function apply(input: Input): Promise<Applied> {
    return new Promise<Applied>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      writing ??= writeAll().finally(() => {
        writing = undefined;
      });
    });
  }

  let lastBatch = 0;
  async function writeAll(): Promise<void> {
    // Let other inputs join the first write: when busy, those of a whole turn of the event loop
    // (other partitions' batches); when quiet, only those already on their way (the rest of
    // this bus batch), so a lone input does not wait a turn.
    await new Promise<void>((resolve) => (lastBatch >= GATHER_A_TURN ? setImmediate(resolve) : process.nextTick(resolve)));
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      lastBatch = batch.length;
      await write(batch).catch((error: unknown) => {
        for (const p of batch) p.reject(error);
      });
    }
  }

  async function write(batch: Pending[]): Promise<void> {
    const orderIds = [...new Set(batch.map((p) => p.input.orderId))];
    const loaded = new Map<string, SagaRecord | null | { failed: unknown }>();
    await Promise.all(
      orderIds.map(async (orderId) => {
        try {
          loaded.set(orderId, await load(orderId));
        } catch (error) {
          loaded.set(orderId, { failed: error });
        }
      }),
    );
    const at = clock().toISOString();
    const sagas = new Map<string, { base: SagaRecord | null; record: SagaRecord | null; events: NewEvent[]; done: { p: Pending; result: Applied }[] }>();
    for (const p of batch) {
      const { orderId } = p.input;
      const from = loaded.get(orderId);
      if (from && 'failed' in from) {
        p.reject(from.failed);
        continue;
      }
      let saga = sagas.get(orderId);
      if (!saga) sagas.set(orderId, (saga = { base: from ?? null, record: from ?? null, events: [], done: [] }));
      const outcome = step(saga.record, p.input, at);
      if ('events' in outcome) {
        saga.record = outcome.record;
        saga.events.push(...outcome.events);
        saga.done.push({ p, result: outcome.result });
      } else saga.done.push({ p, result: outcome });
    }

    const writes = [...sagas.values()].filter((saga) => saga.events.length > 0);
    let results: Awaited<ReturnType<typeof appendMany>>;
    try {
      results = await appendMany(
        store,
        writes.map(({ base, record, events }) => ({
          streamId: streamIdFor.saga(record!.orderId),
          events,
          expectedRevision: base ? base.revision : 'no_stream',
        })),
      );
    } catch (error) {
      // Some of these may have been stored: forget them all, the redelivery reads the streams.
      for (const saga of writes) cache.delete(saga.record!.orderId);
      throw error;
    }
    writes.forEach((saga, i) => {
      const result = results[i]!;
      if (result instanceof WrongExpectedRevisionError) {
        // Someone else wrote this saga (another owner, or our cache is stale): forget it and let
        // the bus redeliver its inputs, applied from the stream.
        cache.delete(saga.record!.orderId);
        for (const { p } of saga.done) p.reject(result);
        saga.done = [];
        return;
      }
      remember({ ...saga.record!, revision: result.nextExpectedRevision });
    });
    for (const saga of sagas.values()) for (const { p, result } of saga.done) p.resolve(result);
  }

  async function handleMessage(message: BusMessage): Promise<void> {
    const parsed = RecordedEventJson.safeParse(JSON.parse(message.value));
    if (!parsed.success) throw new ValidationError(`not a recorded event on ${message.topic}@${message.offset}`);
    const recorded = parsed.data as RecordedEvent;
    const input = sagaInputOf(recorded, clock().toISOString(), stepTimeoutMs);
    if (input.kind === 'irrelevant') return;
    const result = await apply(input);
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

  /** Deadlines due now fire once the inputs stored until now are applied (one check at a time). */
  let checking: Promise<void> | undefined;
  function fireWhenInputsApplied(tickMs: number): void {
    if (checking) return;
    const fence = clock().getTime();
    if (![...timers.values()].some((t) => t.dueAt <= fence)) return;
    checking = inputsApplied(tickMs)
      .then((applied) => {
        if (applied) fireDueTimers(fence);
      })
      .catch((error: unknown) => log.error({ err: error }, 'saga: checking the inputs before firing timers failed; will retry'))
      .finally(() => (checking = undefined));
  }

  /** Fires every deadline due by `fence` as a `StepTimedOut` input, with an id derived from the deadline. */
  const firing = new Set<string>();
  function fireDueTimers(fence: number): void {
    for (const [orderId, timer] of timers) {
      // A saga that moved on while the inputs were applied has a later deadline by now.
      if (timer.dueAt > fence || firing.has(orderId)) continue;
      firing.add(orderId);
      const dueAt = new Date(timer.dueAt).toISOString();
      apply({
        kind: 'feed',
        orderId,
        eventId: deterministicId(orderId, 'timeout', timer.step, dueAt),
        event: { type: 'StepTimedOut', step: timer.step, at: clock().toISOString() },
      })
        .then((result) => {
          if (result.applied) log.info({ orderId, step: timer.step, to: result.to }, 'saga: step timed out');
          else {
            // The index was stale (the saga moved on): take the deadline from the saga itself.
            const record = cache.get(orderId);
            if (record) remember(record);
            else timers.delete(orderId);
          }
        })
        .catch((error: unknown) => log.error({ orderId, err: error }, 'saga: firing a timer failed; will retry'))
        .finally(() => firing.delete(orderId));
    }
  }

  /** At start: every saga stream's last transition gives its deadline, if it still runs. */
  async function recover(): Promise<void> {
    let after: string | undefined;
    let sagas = 0;
    do {
      const page = await store.listStreams({ category: 'saga', limit: 500, ...(after ? { after } : {}) });
      for (const info of page.streams) {
        sagas++;
        const tail = await store.readStream(info.streamId, { direction: 'backwards', limit: 2 });
        const last = tail.find((e) => e.type === 'SagaTransitioned' || e.type === 'SagaStarted');
        if (!last) continue;
        const state = last.type === 'SagaStarted' ? (last.data as { state: string }).state : (last.data as { to: string }).to;
        const timer = restore(state, (last.data as { context: unknown }).context).context.timer;
        if (timer && statusOf(state) === 'running') timers.set(idOf(info.streamId), { step: timer.step, dueAt: Date.parse(timer.dueAt) });
      }
      after = page.next;
    } while (after);
    log.info({ sagas, running: timers.size }, 'saga runtime recovered its timers');
  }

  await recover();
  const dispatcher = await startCommandDispatcher({ store, bus, log });
  const consumer = await bus.consume({
    groupId,
    topics: [...sagaInputTopics],
    // A batch is one partition's messages in order; they join the group commit in that order.
    batchHandler: async (messages) => {
      await Promise.all(messages.map(handleMessage));
    },
    maxBatchSize: 200,
  });

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
    if (!stopped) fireWhenInputsApplied(tickMs);
  }, tickMs);

  return {
    async stop() {
      stopped = true;
      clearInterval(timerLoop);
      await checking;
      await deadLetters.stop();
      await operatorInputs.stop();
      await consumer.stop();
      await writing?.catch(() => undefined);
      await dispatcher.stop();
    },
  };
}
