/**
 * The system wired once: every service's handlers over the adapters, and one table of who
 * listens to what. The app (services.ts), the whole-stack test fixtures and the benchmarks
 * all start their consumers from here, so a new service or dependency is wired in one place.
 */
import type { CommandType } from '@saga/event-schemas/commands';
import { commandTopics, type CommandTopic } from '@saga/event-schemas/streams';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import type { Consumer, MessageBus, RetryPolicy } from '@saga/platform/message-bus/port';
import type { Metrics } from '@saga/platform/metrics';
import { consumeCommands } from '@saga/command-services/shared/command-consumer';
import type { BackoffPolicy } from '@saga/command-services/shared/retry';
import { silentLogger, type Clock, type Logger as ServiceLogger, type Sleep } from '@saga/command-services/shared/runtime';
import { createInventoryHandlers, type InventoryHandlers } from '@saga/command-services/inventory/handlers';
import { openWarehouseSnapshots } from '@saga/command-services/inventory/warehouse-snapshots';
import { createOrderHandlers, type OrderHandlers } from '@saga/command-services/order/handlers';
import { createPaymentHandlers, type PaymentHandlers } from '@saga/command-services/payment/handlers';
import { startPaymentConsumer, type PaymentConsumer } from '@saga/command-services/payment/consumer';
import { openAttemptIndex } from '@saga/command-services/payment/open-attempts';
import { createSimulatedGateway, type SimulatedGateway, type SimulatedGatewayOptions } from '@saga/command-services/payment/simulated-gateway';
import { createEmailHandlers, type EmailHandlers } from '@saga/command-services/email/handlers';
import type { Mailer } from '@saga/command-services/email/mailer';
import { createNodemailerMailer } from '@saga/command-services/email/nodemailer-mailer';
import { sagaInputTopics } from '@saga/saga-orchestrator/inputs';
import type { SagaLog } from '@saga/saga-orchestrator/log';
import { sagaGroupId, startSagaRuntime } from '@saga/saga-orchestrator/runtime';
import { startRelay } from '@saga/projections/relay/relay';
import { groupIdOf, topicsOf } from '@saga/projections/projectors/projection';
import { allProjections } from '@saga/projections/projectors/registry';
import { createProjectorRunner, type ProjectorRunner } from '@saga/projections/projectors/runner';
import { startDeadLetterRecorder } from '@saga/read-api/dead-letters';

interface CommandSubscription<T extends CommandType> {
  topic: CommandTopic;
  groupId: string;
  /** The command types the service answers; anything else on its topic is dead-lettered. */
  accepts: readonly T[];
}

const commands = <T extends CommandType>(s: CommandSubscription<T>) => s;

/**
 * Every consumer group of the system: the topics it reads, and (for a command service) what
 * it answers. The starters in `composeServices` read their row from here.
 */
export const subscriptions = {
  order: commands({ topic: commandTopics.order, groupId: 'order-service', accepts: ['ConfirmOrder', 'RejectOrder', 'CancelOrder'] }),
  inventory: commands({ topic: commandTopics.inventory, groupId: 'inventory-service', accepts: ['ReserveStock', 'ReleaseStock', 'CommitStock'] }),
  payment: commands({ topic: commandTopics.payment, groupId: 'payment-service', accepts: ['ChargePayment', 'RefundPayment'] }),
  email: commands({ topic: commandTopics.email, groupId: 'email-service', accepts: ['SendEmail'] }),
  /** The saga's inputs: every service's events, one group split by partition over the orchestrators. */
  saga: { topics: sagaInputTopics, groupId: sagaGroupId },
  /** One group per read model, each on the event topics its projection needs. */
  projector: allProjections.map((projection) => ({ projection: projection.name, topics: topicsOf(projection), groupId: groupIdOf(projection) })),
};

/** The services that consume the bus (the gateway serves HTTP; the relay follows the store's log). */
export type ConsumingService = 'order' | 'inventory' | 'payment' | 'email' | 'saga' | 'projector';

export interface ComposeAdapters {
  store: EventStore;
  /** Needed by the consumers and the relay; the HTTP command API alone can do without. */
  bus?: MessageBus;
  /** The read models: needed by the projector, and by the saga for its timer index. */
  docs?: DocumentStore;
}

export interface ComposeOptions {
  stepTimeoutMs: number;
  clock?: Clock;
  /** A logger per service; silent by default. */
  logger?: (service: string) => ServiceLogger;
  /**
   * Where the simulated provider keeps its books (and, unless `attemptsInMemory`, payment its
   * open attempts), so a charge interrupted by a crash is reconciled on restart. Absent: memory.
   */
  dataDir?: string;
  /** Payment's open attempts in memory even with a dataDir (a test whose payment service restarts in another process). */
  attemptsInMemory?: boolean;
  /** More options for the simulated provider (a test's shorter `late` answer). */
  provider?: Omit<SimulatedGatewayOptions, 'dataDir' | 'stepTimeoutMs'>;
  /** Payment's and email's own retries (a test's fast ones). */
  handlerRetry?: BackoffPolicy;
  emailSleep?: Sleep;
  mailer?: Mailer;
  smtpUrl?: string;
  /** The bus's redelivery policy for every command consumer. */
  busRetry?: Partial<RetryPolicy>;
  /** Reconcile an open attempt this soon after a background charge failed. */
  reconcileAfterFailureMs?: number;
  saga?: { log?: SagaLog; relayCheckpoint?: string; metrics?: Metrics; timerTickMs?: number };
  onProjectorError?: (error: unknown, projection: string) => void;
}

export interface ComposedServices {
  /** Each made on first use and shared after, so HTTP and the bus see one inventory queue. */
  readonly handlers: { readonly order: OrderHandlers; readonly inventory: InventoryHandlers; readonly payment: PaymentHandlers; readonly email: EmailHandlers };
  /** The simulated payment provider the payment handlers charge. */
  readonly provider: SimulatedGateway;
  /** Starts one service's subscription; each call starts a new consumer in the service's group. */
  consumers: { [S in ConsumingService]: () => Promise<S extends 'payment' ? PaymentConsumer : Consumer> };
  /** Projector runners started so far (the read API reports on them, rebuilds pause them). */
  runners: ProjectorRunner[];
  startRelay(options?: { topicPartitions?: number; log?: (msg: string, extra?: object) => void }): Promise<Consumer>;
  /** Closes what the composition opened (the provider's books, the attempt index); consumers are stopped by their owner. */
  close(): void;
}

/** Made on first call, then the same one; `made()` says whether it exists without making it. */
function lazy<T>(make: () => T): (() => T) & { made(): T | undefined } {
  let value: T | undefined;
  return Object.assign(() => (value ??= make()), { made: () => value });
}

export function composeServices(adapters: ComposeAdapters, options: ComposeOptions): ComposedServices {
  const { store } = adapters;
  const clock = options.clock ?? (() => new Date());
  const logger = (service: string) => options.logger?.(service) ?? silentLogger;
  const bus = () => {
    if (!adapters.bus) throw new Error('composeServices: no bus was given, so no consumer can start');
    return adapters.bus;
  };
  const retry = options.handlerRetry ? { retry: options.handlerRetry } : {};
  const busRetry = options.busRetry ? { retry: options.busRetry } : {};

  const provider = lazy(() =>
    createSimulatedGateway({ ...options.provider, stepTimeoutMs: options.stepTimeoutMs, ...(options.dataDir ? { dataDir: options.dataDir } : {}) }),
  );
  const attempts = lazy(() => openAttemptIndex(options.attemptsInMemory ? undefined : options.dataDir));
  // Warehouse snapshots where there is a document store, so a start does not fold every reservation ever made.
  const inventory = lazy(() =>
    createInventoryHandlers({ store, clock, logger: logger('inventory'), ...(adapters.docs ? { snapshots: openWarehouseSnapshots(adapters.docs, logger('inventory')) } : {}) }),
  );
  const order = lazy(() => createOrderHandlers({ store, clock, priceLookup: inventory().priceLookup, logger: logger('order') }));
  const payment = lazy(() => createPaymentHandlers({ store, gateway: provider(), attempts: attempts(), clock, logger: logger('payment'), ...retry }));
  const email = lazy(() =>
    createEmailHandlers({
      store,
      mailer: options.mailer ?? createNodemailerMailer(options.smtpUrl ? { smtpUrl: options.smtpUrl } : {}),
      clock,
      logger: logger('email'),
      ...retry,
      ...(options.emailSleep ? { sleep: options.emailSleep } : {}),
    }),
  );
  const runners: ProjectorRunner[] = [];

  const consumers: ComposedServices['consumers'] = {
    order: () => consumeCommands({ bus: bus(), ...subscriptions.order, handle: (e) => order().handleSagaCommand(e), logger: logger('order'), ...busRetry }),
    inventory: () =>
      consumeCommands({ bus: bus(), ...subscriptions.inventory, handle: (e) => inventory().handleSagaCommand(e), logger: logger('inventory'), ...busRetry }),
    email: () => consumeCommands({ bus: bus(), ...subscriptions.email, handle: (e) => email().handleSagaCommand(e), logger: logger('email'), ...busRetry }),
    // Payment's consumer lets a command's partition go once its attempt is recorded (payment/consumer.ts).
    payment: () =>
      startPaymentConsumer({
        bus: bus(),
        ...subscriptions.payment,
        handlers: payment(),
        logger: logger('payment'),
        ...busRetry,
        ...(options.reconcileAfterFailureMs === undefined ? {} : { reconcileAfterFailureMs: options.reconcileAfterFailureMs }),
      }),
    saga: () => {
      // The saga's timer index lives in the document store (saga-orchestrator/src/timer-index.ts).
      if (!adapters.docs) throw new Error('composeServices: the saga needs a document store for its timer index');
      return startSagaRuntime({
        store,
        bus: bus(),
        docs: adapters.docs,
        groupId: subscriptions.saga.groupId,
        stepTimeoutMs: options.stepTimeoutMs,
        clock,
        ...(options.saga?.log ? { log: options.saga.log } : {}),
        ...(options.saga?.relayCheckpoint ? { relayCheckpoint: options.saga.relayCheckpoint } : {}),
        ...(options.saga?.metrics ? { metrics: options.saga.metrics } : {}),
        ...(options.saga?.timerTickMs ? { timerTickMs: options.saga.timerTickMs } : {}),
      });
    },
    projector: async () => {
      const docs = adapters.docs;
      if (!docs) throw new Error('composeServices: the projector needs a document store');
      const started = allProjections.map((projection) =>
        createProjectorRunner({ bus: bus(), store: docs, projection, onError: (error) => options.onProjectorError?.(error, projection.name) }),
      );
      // Together: on Kafka each runner joins its own group, and after a SIGKILL every join waits out the dead
      // member's session, so one after another a projector took minutes to come back.
      await Promise.all(started.map((runner) => runner.start()));
      runners.push(...started);
      const deadLetters = await startDeadLetterRecorder({ bus: bus(), store: docs });
      return {
        async stop() {
          for (const runner of started) await runner.stop();
          await deadLetters.stop();
          runners.splice(0, runners.length, ...runners.filter((r) => !started.includes(r)));
        },
      };
    },
  };

  return {
    handlers: {
      get order() {
        return order();
      },
      get inventory() {
        return inventory();
      },
      get payment() {
        return payment();
      },
      get email() {
        return email();
      },
    },
    get provider() {
      return provider();
    },
    consumers,
    runners,
    startRelay: (relayOptions = {}) =>
      startRelay({
        store,
        bus: bus(),
        ...(relayOptions.topicPartitions ? { topicPartitions: relayOptions.topicPartitions } : {}),
        ...(relayOptions.log ? { log: relayOptions.log } : {}),
      }),
    close() {
      attempts.made()?.closeIndex();
      provider.made()?.close();
    },
  };
}
