import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { categories, categoryOf, eventTopic } from '@saga/event-schemas/streams';
import type { EventStore, EventSubscription } from '@saga/platform/event-store/port';
import type { MessageBus, OutgoingMessage, TopicMessages } from '@saga/platform/message-bus/port';

export interface RelayDeps {
  store: EventStore;
  bus: MessageBus;
  /** Names the checkpoint, so two relays (e.g. a re-publish) keep separate progress. Default 'relay'. */
  name?: string;
  log?: (msg: string, extra?: object) => void;
  /** Most events published in one transaction. Default 500. */
  maxBatchSize?: number;
  /** Partitions of the event topics the relay creates. Default 4. */
  topicPartitions?: number;
}

export interface Relay {
  stop(): Promise<void>;
}

/** The checkpoint's name on the bus: the global position of the last event published. */
export const relayCheckpointName = (name: string) => `relay.${name}`;

const IDLE = Symbol('idle');
const nextTurn = () => new Promise<typeof IDLE>((resolve) => setImmediate(() => resolve(IDLE)));

/**
 * Follows the event store's global log from the relay's checkpoint and publishes each event to
 * its category topic, keyed by stream id (so one stream stays in order). Events already waiting
 * are published together, and the checkpoint goes in the same bus transaction as the messages:
 * on the embedded bus a restart neither loses nor repeats an event; on Kafka the transactional
 * producer gives the same, and consumers tolerate redelivery anyway.
 */
export async function startRelay(deps: RelayDeps): Promise<Relay> {
  const { store, bus } = deps;
  const name = deps.name ?? 'relay';
  const log = deps.log ?? (() => {});
  const maxBatchSize = deps.maxBatchSize ?? 500;
  const partitions = deps.topicPartitions ?? 4;
  const checkpointName = relayCheckpointName(name);

  const knownTopics = new Set(categories.map(eventTopic));
  await bus.createTopics([...knownTopics].map((topic) => ({ name: topic, partitions })));

  let stopping = false;
  let wakeFromBackoff: (() => void) | undefined;
  let subscription: EventSubscription | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeFromBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (wakeFromBackoff = undefined));

  async function subscribe(): Promise<EventSubscription> {
    // The checkpoint is a position the store handed out, kept verbatim; the store refuses any other.
    const after = (await bus.readCheckpoint(checkpointName)) as LogPosition | undefined;
    log('relay following the log', { name, after: after ?? null });
    return store.subscribeToAll(after === undefined ? {} : { after });
  }

  async function publish(batch: RecordedEvent[]): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const event of batch) {
      const topic = eventTopic(categoryOf(event.streamId));
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      messages.push({ key: event.streamId, value: JSON.stringify(event) });
    }
    const fresh = [...byTopic.keys()].filter((t) => !knownTopics.has(t));
    if (fresh.length > 0) {
      await bus.createTopics(fresh.map((topic) => ({ name: topic, partitions })));
      for (const t of fresh) knownTopics.add(t);
    }
    const batches: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const position = batch[batch.length - 1]!.position;
    await bus.publishMany(batches, { checkpoint: { name: checkpointName, value: position } });
  }

  /** Retries until published or stopped: a relay that gave up would silently stall every consumer. */
  async function publishUntilDone(batch: RecordedEvent[]): Promise<boolean> {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await publish(batch);
        return true;
      } catch (error) {
        const delay = Math.min(100 * 2 ** (attempt - 1), 5_000);
        log('relay publish failed; retrying', { name, attempt, delayMs: delay, error: String(error), from: batch[0]!.position });
        await pause(delay);
      }
    }
    return false;
  }

  /**
   * Publishes from one subscription until it ends, the relay stops, or something throws.
   * `buffered` is how many events the subscription has read ahead, where it can tell.
   */
  async function pump(events: AsyncIterator<RecordedEvent>, buffered: () => number | undefined): Promise<void> {
    let pending: Promise<IteratorResult<RecordedEvent>> | undefined;
    let ended = false;
    while (!stopping && !ended) {
      const first = await (pending ?? events.next());
      pending = undefined;
      if (first.done) return;
      const batch = [first.value];
      // Take what is already waiting, without waiting for more: latency stays one event's.
      while (batch.length < maxBatchSize) {
        const ahead = buffered();
        // Nothing read ahead: the next event is not here yet, so publish what we have now.
        if (ahead === 0) break;
        pending = events.next();
        // Read ahead: the next event is already in memory, no need to race a turn of the loop.
        const next = ahead === undefined ? await Promise.race([pending, nextTurn()]) : await pending;
        if (next === IDLE) break;
        pending = undefined;
        if (next.done) {
          ended = true;
          break;
        }
        batch.push(next.value);
      }
      if (!(await publishUntilDone(batch))) return;
    }
  }

  // A failed read resubscribes from the checkpoint, so the relay never stalls quietly.
  const loop = (async () => {
    for (let failures = 0; !stopping; ) {
      try {
        const current = await subscribe();
        subscription = current;
        if (stopping) break;
        await pump(current[Symbol.asyncIterator](), () => current.buffered);
        failures = 0;
        if (!stopping) {
          log('relay subscription ended; resubscribing', { name });
          await pause(100);
        }
      } catch (error) {
        failures++;
        const delay = Math.min(100 * 2 ** (failures - 1), 5_000);
        log('relay failed reading the log; resubscribing', { name, delayMs: delay, error: String(error) });
        await subscription?.close().catch(() => undefined);
        subscription = undefined;
        if (!stopping) await pause(delay);
      }
    }
  })();

  return {
    async stop() {
      stopping = true;
      wakeFromBackoff?.();
      await subscription?.close();
      await loop;
      await subscription?.close(); // in case stop came while it was subscribing
      log('relay stopped', { name });
    },
  };
}
