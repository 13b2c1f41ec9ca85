/**
 * Every service of the system in this process on one embedded data directory (SQLite event
 * store and bus, relay, the four command services with their consumers), for the saga's
 * whole-stack tests and benchmark. The saga runtime is started by the caller (in this
 * process or another), so a test can kill it on its own.
 */
import type { LineItem } from '@saga/event-schemas/ids';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import type { Consumer, MessageBus } from '@saga/platform/message-bus/port';
import { startRelay } from '@saga/projections/relay/relay';
import { createInventoryHandlers, type InventoryHandlers } from '@saga/command-services/inventory/handlers';
import { startInventoryConsumer } from '@saga/command-services/inventory/consumer';
import { createOrderHandlers, type OrderHandlers } from '@saga/command-services/order/handlers';
import { startOrderConsumer } from '@saga/command-services/order/consumer';
import { createPaymentHandlers } from '@saga/command-services/payment/handlers';
import { startPaymentConsumer } from '@saga/command-services/payment/consumer';
import { createSimulatedGateway, type SimulatedGateway } from '@saga/command-services/payment/simulated-gateway';
import { createEmailHandlers } from '@saga/command-services/email/handlers';
import { startEmailConsumer } from '@saga/command-services/email/consumer';
import { createNodemailerMailer } from '@saga/command-services/email/nodemailer-mailer';

export interface EmbeddedStack {
  store: EventStore;
  bus: MessageBus;
  order: OrderHandlers;
  inventory: InventoryHandlers;
  gateway: SimulatedGateway;
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startEmbeddedStack(options: { dataDir: string; stepTimeoutMs: number; leaseTtlMs?: number; fastRetries?: boolean }): Promise<EmbeddedStack> {
  const { dataDir, stepTimeoutMs } = options;
  const store = await openSqliteEventStore({ dataDir });
  const leaseTtlMs = options.leaseTtlMs ?? 5_000;
  const bus = await openSqliteMessageBus({ dataDir, membership: { heartbeatMs: Math.max(50, leaseTtlMs / 5), leaseTtlMs } });
  const clock = () => new Date();
  const retry = options.fastRetries ? { retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20 } } : {};
  const relay = await startRelay({ store, bus });
  const inventory = createInventoryHandlers({ store, clock });
  const order = createOrderHandlers({ store, clock, priceLookup: inventory.priceLookup });
  // The provider's books in the data directory, shared with a payment service in another process.
  const gateway = createSimulatedGateway({ stepTimeoutMs, sleep, dataDir });
  const payment = createPaymentHandlers({ store, gateway, clock, ...retry });
  const email = createEmailHandlers({ store, mailer: createNodemailerMailer(), clock, ...retry });
  const starters: Record<StackService, () => Promise<Consumer>> = {
    order: () => startOrderConsumer({ bus, handlers: order }),
    inventory: () => startInventoryConsumer({ bus, handlers: inventory }),
    payment: () => startPaymentConsumer({ bus, handlers: payment }),
    email: () => startEmailConsumer({ bus, handlers: email }),
  };
  // A paused service has no entry; started one by one, in this order, as before.
  const consumers = new Map<StackService, Consumer>();
  for (const service of ['order', 'inventory', 'payment', 'email'] as const) consumers.set(service, await starters[service]());
  return {
    store,
    bus,
    order,
    inventory,
    gateway,
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
      await store.close();
      gateway.close();
    },
  };
}
