import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { categories, categoryOf, deadLetterTopic, eventTopic } from '@saga/event-schemas/streams';
import { followLog } from '@saga/platform/event-store/follow-log';
import type { EventStore } from '@saga/platform/event-store/port';
import type { MessageBus, OutgoingMessage } from '@saga/platform/message-bus/port';

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
  /** Several relay processes: only the lease holder publishes (the others wait to take over). Default true. */
  lease?: boolean;
}

/**
 * Where an event of a category this system does not know goes (a foreign stream, a name that
 * is no legal topic): dead-lettered with the batch, never a topic of its own that could stall the relay (K10).
 */
export const unknownCategoryTopic = deadLetterTopic('events');

export interface Relay {
  /** Whether this instance holds the lease and publishes now. */
  readonly active: boolean;
  stop(): Promise<void>;
}

/** The checkpoint's name on the bus: the global position of the last event published. */
export const relayCheckpointName = (name: string) => `relay.${name}`;

/**
 * Follows the event store's global log from the relay's checkpoint and publishes each event to
 * its category topic, keyed by stream id (so one stream stays in order), the checkpoint in the
 * same bus transaction (`followLog`): a restart neither loses nor repeats an event, and of
 * several relay processes only the one holding the lease publishes.
 */
export async function startRelay(deps: RelayDeps): Promise<Relay> {
  const { store, bus } = deps;
  const name = deps.name ?? 'relay';
  const log = deps.log ?? (() => {});
  const partitions = deps.topicPartitions;

  const knownTopics = new Set(categories.map(eventTopic));
  await bus.createTopics([...knownTopics, unknownCategoryTopic].map((topic) => ({ name: topic, ...(partitions ? { partitions } : {}) })));

  const toMessages = (event: RecordedEvent): { topic: string; message: OutgoingMessage }[] => {
    const topic = eventTopic(categoryOf(event.streamId));
    const message = { key: event.streamId, value: JSON.stringify(event) };
    if (knownTopics.has(topic)) return [{ topic, message }];
    log('relay dead-lettered an event of an unknown category', { name, streamId: event.streamId, topic: unknownCategoryTopic });
    return [{ topic: unknownCategoryTopic, message: { ...message, headers: { 'dlq-error': 'unknown category' } } }];
  };

  const follower = await followLog({
    store,
    bus,
    checkpoint: relayCheckpointName(name),
    toMessages,
    log: (_level, msg, extra) => log(msg, { name, ...extra }),
    maxBatchSize: deps.maxBatchSize ?? 500,
    label: 'relay',
    ...(deps.lease === undefined ? {} : { lease: deps.lease }),
  });

  return {
    get active() {
      return follower.active;
    },
    async stop() {
      await follower.stop();
      log('relay stopped', { name });
    },
  };
}
