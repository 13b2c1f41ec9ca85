/**
 * Every service of the system in this process on one embedded data directory (SQLite event
 * store and bus, relay, the four command services with their consumers), for the saga's
 * whole-stack tests and benchmark. The saga runtime is started by the caller (in this
 * process or another), so a test can kill it on its own.
 */
import type { LineItem } from '@saga/event-schemas/ids';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { openKafkaMessageBus } from '@saga/platform/message-bus/kafka';
import { categories, commandTopics, eventTopic } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { Consumer, MessageBus } from '@saga/platform/message-bus/port';
// The app's one composition of the services: the stack here is wired exactly as `npm start` wires it.
import { composeServices, type ComposedServices } from '../../app/compose';

type Handlers = ComposedServices['handlers'];
export interface EmbeddedStack {
  store: EventStore;
  bus: MessageBus;
  /** The read-model store, where the saga runtime keeps its timer index. */
  docs: DocumentStore;
  order: Handlers['order'];
  inventory: Handlers['inventory'];
  gateway: ComposedServices['provider'];
  /** The composition the stack runs, to start more of its services (the saga, the projector) on the same adapters. */
  services: ComposedServices;
  /** Places an order of `items` paid with a test card. */
  place(input: { orderId: string; card: string; items: { sku: string; quantity: number }[]; email?: string }): Promise<string>;
  /**
   * Stops one service's command consumer, as when that service is down: the commands sent to
   * it wait on its topic (the group's offsets stay where they are) until `resume`. Lets a
   * test hold the saga in the state that waits for that service.
   */
  pause(service: StackService): Promise<void>;
  /** Starts the paused service's consumer again, with the same handlers and group. */
  resume(service: StackService): Promise<void>;
  close(): Promise<void>;
}

/** The services whose command consumers the stack runs. */
export type StackService = 'order' | 'inventory' | 'payment' | 'email';

export const testCards = {
  approve: '4242424242424242',
  decline: '4000000000000002',
  insufficient: '4000000000009995',
  flaky: '4000000000000119',
  late: '4000000000000259',
  unreachable: '4000000000000341',
} as const;

export async function startEmbeddedStack(options: {
  dataDir: string;
  stepTimeoutMs: number;
  leaseTtlMs?: number;
  fastRetries?: boolean;
  /** The read-model store, when the caller has one open on dataDir already. */
  docs?: DocumentStore;
  /** The bus on these brokers (Kafka) instead of the embedded log; the store stays in dataDir. */
  kafka?: { brokers: string[]; clientId: string };
  /** Wraps the store and the bus before anything uses them (a benchmark's tracing). */
  wrap?: { store?: (store: EventStore) => EventStore; bus?: (bus: MessageBus) => MessageBus };
}): Promise<EmbeddedStack> {
  const { dataDir, stepTimeoutMs } = options;
  const opened = await openSqliteEventStore({ dataDir });
  const store = options.wrap?.store ? options.wrap.store(opened) : opened;
  const docs = options.docs ?? (await openSqliteDocumentStore({ dataDir }));
  const leaseTtlMs = options.leaseTtlMs ?? 5_000;
  const openedBus = options.kafka
    ? await openKafkaMessageBus({ ...options.kafka, log: () => undefined })
    : await openSqliteMessageBus({ dataDir, membership: { heartbeatMs: Math.max(50, leaseTtlMs / 5), leaseTtlMs } });
  const bus = options.wrap?.bus ? options.wrap.bus(openedBus) : openedBus;
  // Every topic before any consumer, with the bus's partition count (as the app's adapters do).
  await bus.createTopics([...categories.map(eventTopic), ...Object.values(commandTopics)].map((name) => ({ name })));
  const services = composeServices(
    { store, bus, docs },
    {
      stepTimeoutMs,
      // The provider's books in the data directory, shared with a payment service in another
      // process; the open attempts stay in memory, as that service keeps its own.
      dataDir,
      attemptsInMemory: true,
      ...(options.fastRetries ? { handlerRetry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20 } } : {}),
    },
  );
  const relay = await services.startRelay();
  const { order, inventory } = services.handlers;
  const gateway = services.provider;
  const starters: Record<StackService, () => Promise<Consumer>> = services.consumers;
  // A paused service has no entry; started one by one, in this order, as before.
  const consumers = new Map<StackService, Consumer>();
  for (const service of ['order', 'inventory', 'payment', 'email'] as const) consumers.set(service, await starters[service]());
  return {
    store,
    bus,
    docs,
    order,
    inventory,
    gateway,
    services,
    async place({ orderId, card, items, email: to }) {
      const { token, last4 } = await gateway.tokenize({ number: card });
      const placed = await order.placeOrder({
        customer: { id: `cust-${orderId}`, email: to ?? `${orderId}@example.com` },
        items: items as LineItem[],
        payment: { token, last4 },
        orderId,
      });
      return placed.orderId;
    },
    async pause(service) {
      const consumer = consumers.get(service);
      if (!consumer) throw new Error(`${service} is already paused`);
      consumers.delete(service);
      await consumer.stop();
    },
    async resume(service) {
      if (consumers.has(service)) throw new Error(`${service} is not paused`);
      consumers.set(service, await starters[service]());
    },
    async close() {
      for (const c of consumers.values()) await c.stop();
      consumers.clear();
      await relay.stop();
      await bus.close();
      if (!options.docs) await docs.close();
      await store.close();
      services.close();
    },
  };
}
