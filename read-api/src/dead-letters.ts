import { createHash } from 'node:crypto';
import { categories, commandTopics, deadLetterTopic, eventTopic } from '@saga/event-schemas/streams';
import type { Collection, DocumentStore, Page } from '@saga/platform/document-store/port';
import { ConflictError } from '@saga/platform/errors';
import { dlqHeaders } from '@saga/platform/message-bus/delivery';
import type { BusMessage, Consumer, MessageBus } from '@saga/platform/message-bus/port';

/** Every dead-letter topic the system writes: each command topic's and each event topic's. */
export const deadLetterTopics = [...Object.values(commandTopics), ...categories.map(eventTopic)].map(deadLetterTopic);

export type DeadLetterStatus = 'open' | 'retried' | 'discarded';

export interface DeadLetterDoc {
  id: string;
  status: DeadLetterStatus;
  /** The original topic, where a retry republishes. */
  topic: string;
  /** The consumer group that gave up (the bus's `dlq-group` header); null for dead letters from before it was recorded. */
  group: string | null;
  key: string;
  orderId: string | null;
  reason: string;
  attempts: number;
  firstFailedAt: string;
  lastFailedAt: string;
  /** The dead-lettered message value, as published. */
  value: string;
  /** The original headers, minus the bus's dead-letter headers. */
  headers: Record<string, string>;
  [field: string]: unknown;
}

const spec = { name: 'deadletters', indexes: ['status', 'lastFailedAt'], compound: [['status', 'lastFailedAt']] };
const group = 'dead-letters';

/** A dead letter's id: its place on its DLQ topic, so a redelivery upserts the same entry. */
const idOf = (m: BusMessage) =>
  createHash('sha256').update(`${m.topic}:${m.partition}:${m.offset}`).digest('hex').slice(0, 24);

function orderIdOf(value: string, key: string): string | null {
  try {
    const parsed = JSON.parse(value) as { orderId?: unknown; metadata?: { correlationId?: unknown }; streamId?: unknown };
    if (typeof parsed.metadata?.correlationId === 'string') return parsed.metadata.correlationId;
    if (typeof parsed.orderId === 'string') return parsed.orderId;
  } catch {
    // Not JSON (that may be why it was dead-lettered): the key is still the order id on the command topics.
  }
  return key || null;
}

export function toDeadLetter(m: BusMessage): DeadLetterDoc {
  const failedAt = m.headers[dlqHeaders.failedAt] ?? new Date(m.timestamp).toISOString();
  const headers = Object.fromEntries(Object.entries(m.headers).filter(([k]) => !k.startsWith('dlq-')));
  return {
    id: idOf(m),
    status: 'open',
    topic: m.headers[dlqHeaders.originalTopic] ?? m.topic.replace(/\.dlq$/, ''),
    // The group that gave up, as the bus names it (dead letters from before it did: none).
    group: m.headers[dlqHeaders.group] ?? null,
    key: m.key,
    orderId: orderIdOf(m.value, m.key),
    reason: m.headers[dlqHeaders.error] ?? 'unknown error',
    attempts: Number(m.headers[dlqHeaders.attempts] ?? 0),
    firstFailedAt: failedAt,
    lastFailedAt: failedAt,
    value: m.value,
    headers,
  };
}

export interface DeadLetters {
  list(options: { limit: number; cursor?: string }): Promise<Page<DeadLetterDoc>>;
  get(id: string): Promise<DeadLetterDoc | null>;
  mark(doc: DeadLetterDoc, status: DeadLetterStatus): Promise<void>;
}

export async function openDeadLetters(store: DocumentStore): Promise<DeadLetters & { collection: Collection<DeadLetterDoc> }> {
  const collection = await store.collection<DeadLetterDoc>(spec);
  return {
    collection,
    list: ({ limit, cursor }) =>
      collection.find({ filter: { status: 'open' }, sort: { field: 'lastFailedAt', direction: 'desc' }, limit, ...(cursor ? { cursor } : {}) }),
    get: (id) => collection.get(id),
    // Only an open entry moves (compare-and-set on its version): of two operators acting at once, one wins, the other gets 409.
    async mark(doc, status) {
      const [current] = await collection.getVersioned([doc.id]);
      if (!current || current.doc.status !== 'open') throw new ConflictError(`dead letter ${doc.id} is already ${current?.doc.status ?? 'gone'}`);
      const { conflicts } = await store.write([{ collection: spec.name, op: 'put', doc: { ...current.doc, status }, expectedVersion: current.version }]);
      if (conflicts.length > 0) throw new ConflictError(`dead letter ${doc.id} was changed by another operator`);
    },
  };
}

/**
 * Records every dead letter in the `deadletters` collection. A retried message that fails again
 * is dead-lettered anew at a new DLQ offset, so it is a new entry (the old one stays `retried`).
 */
export async function startDeadLetterRecorder(deps: { bus: MessageBus; store: DocumentStore }): Promise<Consumer> {
  const { collection } = await openDeadLetters(deps.store);
  await deps.bus.createTopics(deadLetterTopics.map((name) => ({ name })));
  return deps.bus.consume({
    groupId: group,
    topics: deadLetterTopics,
    handler: async (m) => {
      const doc = toDeadLetter(m);
      // A redelivery after a crash must not reopen an entry an operator already handled.
      if (await collection.get(doc.id)) return;
      try {
        await collection.insert(doc);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error; // recorded meanwhile by a redelivery
      }
    },
  });
}

/** Republishes a dead letter to its original topic, key and headers, and marks it retried. */
export async function retryDeadLetter(bus: MessageBus, deadLetters: DeadLetters, doc: DeadLetterDoc): Promise<void> {
  await bus.publish(doc.topic, [{ key: doc.key, value: doc.value, headers: doc.headers }]);
  await deadLetters.mark(doc, 'retried');
}
