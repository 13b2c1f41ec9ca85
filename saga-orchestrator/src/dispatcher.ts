import { commandTopicOf } from '@saga/event-schemas/commands';
import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { idOf } from '@saga/event-schemas/streams';
import type { EventStore, EventSubscription } from '@saga/platform/event-store/port';
import type { MessageBus, OutgoingMessage } from '@saga/platform/message-bus/port';
import { commandEnvelope, type IssuedCommand } from './saga-stream';
import type { SagaLog } from './log';

/**
 * The saga's outbox relay. Transitions are appended to the saga streams first; this follows
 * the store's log of saga transitions from its checkpoint and publishes the commands they
 * issued, the checkpoint written in the same bus transaction as the commands. A crash at any
 * instant therefore loses no command: on restart it resumes from the checkpoint and sends
 * again at most the last batch (receivers deduplicate by command id). Batching many sagas'
 * commands into one bus transaction is also what keeps the saga fast.
 */
export const dispatcherCheckpoint = 'saga-dispatcher';

export interface CommandDispatcher {
  stop(): Promise<void>;
}

const IDLE = Symbol('idle');
const nextTurn = () => new Promise<typeof IDLE>((resolve) => setImmediate(() => resolve(IDLE)));

export function commandMessagesOf(event: RecordedEvent): { topic: string; message: OutgoingMessage }[] {
  if (event.type !== 'SagaStarted' && event.type !== 'SagaTransitioned') return [];
  const orderId = idOf(event.streamId);
  const data = event.data as { commands: IssuedCommand[]; at: string; inputEventId?: string; input?: { eventId: string } };
  const outbox = { causationId: data.inputEventId ?? data.input?.eventId ?? event.eventId, at: data.at };
  return data.commands.map((command) => ({
    topic: commandTopicOf(command.type),
    message: { key: orderId, value: JSON.stringify(commandEnvelope(orderId, outbox, command)) },
  }));
}

export async function startCommandDispatcher(deps: {
  store: EventStore;
  bus: MessageBus;
  log: SagaLog;
  maxBatchSize?: number;
}): Promise<CommandDispatcher> {
  const { store, bus, log } = deps;
  const maxBatchSize = deps.maxBatchSize ?? 500;
  let stopping = false;
  let subscription: EventSubscription | undefined;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function publish(batch: RecordedEvent[]): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const event of batch) {
      for (const { topic, message } of commandMessagesOf(event)) {
        const messages = byTopic.get(topic) ?? [];
        messages.push(message);
        byTopic.set(topic, messages);
      }
    }
    const position = batch[batch.length - 1]!.position;
    await bus.publishMany(
      [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      { checkpoint: { name: dispatcherCheckpoint, value: position } },
    );
  }

  /** Retries until published or stopped: a dispatcher that gave up would stall every saga. */
  async function publishUntilDone(batch: RecordedEvent[]): Promise<boolean> {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await publish(batch);
        return true;
      } catch (error) {
        const delayMs = Math.min(50 * 2 ** (attempt - 1), 2_000);
        log.error({ attempt, delayMs, from: batch[0]!.position, err: String(error) }, 'saga: publishing commands failed; retrying');
        await pause(delayMs);
      }
    }
    return false;
  }

  async function pump(events: AsyncIterator<RecordedEvent>, buffered: () => number | undefined): Promise<void> {
    let pending: Promise<IteratorResult<RecordedEvent>> | undefined;
    while (!stopping) {
      const first = await (pending ?? events.next());
      pending = undefined;
      if (first.done) return;
      const batch = [first.value];
      // Take what is already waiting without waiting for more, so latency stays one event's.
      while (batch.length < maxBatchSize) {
        // Nothing more read ahead: the next event is not here yet, send what we have now.
        if (buffered() === 0) break;
        pending = events.next();
        const next = await Promise.race([pending, nextTurn()]);
        if (next === IDLE) break;
        pending = undefined;
        if (next.done) break;
        batch.push(next.value);
      }
      if (!(await publishUntilDone(batch))) return;
    }
  }

  const loop = (async () => {
    for (let failures = 0; !stopping; ) {
      try {
        const saved = await bus.readCheckpoint(dispatcherCheckpoint);
        subscription = store.subscribeToAll({
          // Kept verbatim as the store handed it out; the store refuses any other.
          ...(saved === undefined ? {} : { after: saved as LogPosition }),
          // The two types only saga streams hold: one filter, which every store can apply server-side.
          filter: { eventTypes: ['SagaStarted', 'SagaTransitioned'] },
        });
        const current = subscription;
        await pump(current[Symbol.asyncIterator](), () => current.buffered);
        failures = 0;
      } catch (error) {
        failures++;
        const delayMs = Math.min(100 * 2 ** (failures - 1), 5_000);
        log.error({ delayMs, err: String(error) }, 'saga: reading saga transitions failed; resubscribing');
        await subscription?.close().catch(() => undefined);
        if (!stopping) await pause(delayMs);
      }
    }
  })();

  return {
    async stop() {
      stopping = true;
      wake?.();
      await subscription?.close();
      await loop;
    },
  };
}
