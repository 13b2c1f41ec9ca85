import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { categories, categoryOf, deadLetterTopic, eventTopic } from '@saga/event-schemas/streams';
import type { EventStore, EventSubscription } from '@saga/platform/event-store/port';
import { PublisherFencedError, type MessageBus, type OutgoingMessage, type TopicMessages } from '@saga/platform/message-bus/port';

export interface RelayDeps {
  store: EventStore;
  bus: MessageBus;
  /** Names the checkpoint, so two relays (e.g. a re-publish) keep separate progress. Default 'relay'. */
  name?: string;
  log?: (msg: string, extra?: object) => void;
  /** Most events published in one transaction. Default 500. */
  maxBatchSize?: number;
  /** Partitions of the event topics the relay creates. Default: the bus's (BUS_PARTITIONS). */
  topicPartitions?: number;
}

/**
 * Where an event of a category this system does not know goes (a foreign stream, a name that
 * is no legal topic): dead-lettered with the batch, never a topic of its own that could stall the relay (K10).
 */
export const unknownCategoryTopic = deadLetterTopic('events');

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
  const partitions = deps.topicPartitions;
  const checkpointName = relayCheckpointName(name);

  const knownTopics = new Set(categories.map(eventTopic));
  await bus.createTopics([...knownTopics, unknownCategoryTopic].map((topic) => ({ name: topic, ...(partitions ? { partitions } : {}) })));

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
    let unknown = 0;
    for (const event of batch) {
      let topic = eventTopic(categoryOf(event.streamId));
      if (!knownTopics.has(topic)) {
        topic = unknownCategoryTopic;
        unknown++;
      }
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      messages.push({ key: event.streamId, value: JSON.stringify(event), ...(topic === unknownCategoryTopic ? { headers: { 'dlq-error': 'unknown category' } } : {}) });
    }
    if (unknown > 0) log('relay dead-lettered events of unknown categories', { name, count: unknown, topic: unknownCategoryTopic });
    const batches: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const position = batch[batch.length - 1]!.position;
    await bus.publishMany(batches, { checkpoint: { name: checkpointName, value: position } });
  }

  let publishFailures = 0;
  /**
   * Publishes the batch, or says how to go on: a failed publish may still have committed (Kafka
   * cannot always tell), so the relay resumes from the checkpoint rather than sending the batch
   * again, which a read_committed consumer would see twice. A newer relay having taken over
   * (PublisherFencedError) makes this one step down instead of fencing it back.
   */
  async function publishOrResume(batch: RecordedEvent[]): Promise<'published' | 'resubscribe' | 'stop'> {
    try {
      await publish(batch);
      publishFailures = 0;
      return 'published';
    } catch (error) {
      if (error instanceof PublisherFencedError) {
        log('relay fenced by a newer instance; stepping down', { name, error: String(error) });
        stopping = true;
        return 'stop';
      }
      publishFailures++;
      const delay = Math.min(100 * 2 ** (publishFailures - 1), 5_000);
      log('relay publish failed; retrying', { name, attempt: publishFailures, delayMs: delay, error: String(error), from: batch[0]!.position });
      await pause(delay);
      return stopping ? 'stop' : 'resubscribe';
    }
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
      const outcome = await publishOrResume(batch);
      if (outcome !== 'published') return;
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
          // Ended, or a publish failed: read the checkpoint again and follow the log from there.
          await current.close().catch(() => undefined);
          subscription = undefined;
          if (publishFailures === 0) {
            log('relay subscription ended; resubscribing', { name });
            await pause(100);
          }
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
