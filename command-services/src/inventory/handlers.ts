/**
 * Inventory command handlers. Signatures (the HTTP layer, the order handlers and the consumer code against these):
 *
 *   createInventoryHandlers(deps: InventoryHandlerDeps): InventoryHandlers
 *     deps = { store: EventStore; clock: () => Date; logger?: Logger; newId?: () => string;
 *              maxAttempts?: number (default 50); sleep?: Sleep }
 *
 *   addProduct(input: AddProductInput): Promise<{ sku: Sku; created: boolean }>
 *     input = { sku, name, price (minor units), currency, stock, actor?: Actor } (validated by the event schema on append)
 *     Same sku with the same name/price/currency again -> created: false (seeding is idempotent).
 *     Throws ConflictError (sku taken by another product), ValidationError (zod, on append).
 *   restock(input: { sku: string; quantity: number; actor?: Actor }): Promise<{ sku: Sku; available: number }>
 *     Throws NotFoundError (unknown sku).
 *   priceLookup(skus: readonly string[]): Promise<Map<string, ProductPrice>>   (a PriceLookup for createOrderHandlers)
 *   snapshot(): Promise<InventoryState>   (caught up with the store)
 *   handleSagaCommand(envelope: CommandEnvelope<'ReserveStock' | 'ReleaseStock' | 'CommitStock'>): Promise<CommandOutcome<InventoryEvent>>
 *
 * Every reservation hits the one `inventory-warehouse` stream, so the folded state and its
 * revision stay in memory: before deciding, only the events after the cached revision are
 * read (another process may have appended), commands on the stream run one at a time in
 * this process, and a conflict with another process is retried after catching up.
 */
import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { Sku } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import { NotFoundError } from '@saga/platform/errors';
import type { EventStore } from '@saga/platform/event-store/port';
import { WrongExpectedRevisionError } from '@saga/platform/event-store/port';
import { newId as randomId } from '@saga/platform/ids';
import { expectedRevisionOf, foldRecorded, rejectionError, type Aggregate, type CommandOutcome } from '../shared/command-handler';
import { ignore, isEvents } from '../shared/decision';
import { createKeyedQueue } from '../shared/keyed-queue';
import { toNewEvents } from '../shared/new-events';
import type { Actor } from '../shared/actor';
import type { PriceLookup, ProductPrice } from '../shared/price-lookup';
import { realSleep, silentLogger, type Clock, type Logger, type Sleep } from '../shared/runtime';
import { decide, type InventoryCommand } from './decide';
import { evolve, initialState, type InventoryEvent, type InventoryState } from './state';

export interface InventoryHandlerDeps {
  store: EventStore;
  clock: Clock;
  logger?: Logger;
  newId?: () => string;
  /** Tries per command when other processes keep winning the append. */
  maxAttempts?: number;
  sleep?: Sleep;
}

export interface InventoryHandlers {
  /** Role checks are the HTTP layer's; `actor` is recorded as the events' user. */
  addProduct(input: AddProductInput): Promise<{ sku: Sku; created: boolean }>;
  restock(input: { sku: string; quantity: number; actor?: Actor }): Promise<{ sku: Sku; available: number }>;
  priceLookup: PriceLookup;
  snapshot(): Promise<InventoryState>;
  handleSagaCommand(envelope: CommandEnvelope<'ReserveStock' | 'ReleaseStock' | 'CommitStock'>): Promise<CommandOutcome<InventoryEvent>>;
}

/** The product as the admin route parsed it (AddProductRequest) plus who asked. */
export interface AddProductInput {
  sku: string;
  name: string;
  price: number;
  currency: string;
  stock: number;
  actor?: Actor;
}

interface Causing {
  commandId: string;
  correlationId: string;
  userId?: string;
}

export function createInventoryHandlers(deps: InventoryHandlerDeps): InventoryHandlers {
  const { store, clock } = deps;
  const logger = deps.logger ?? silentLogger;
  const newId = deps.newId ?? randomId;
  const sleep = deps.sleep ?? realSleep;
  const maxAttempts = deps.maxAttempts ?? 50;
  const streamId = streamIdFor.inventory();
  const queue = createKeyedQueue();
  let cache: Aggregate<InventoryState> = { state: initialState, revision: -1, handledCommands: new Set() };

  /** Folds what others appended since our cached revision; runs inside the queue only. */
  async function catchUp(): Promise<void> {
    const events = await store.readStream(streamId, { fromRevision: cache.revision + 1 });
    cache = foldRecorded(events, evolve, cache);
  }

  function execute(command: InventoryCommand, causing: Causing): Promise<CommandOutcome<InventoryEvent>> {
    return queue.run(streamId, async () => {
      for (let attempt = 1; ; attempt++) {
        await catchUp();
        if (cache.handledCommands.has(causing.commandId)) return ignore('AlreadyHandled');
        const decision = decide(command, cache.state, {});
        if (!isEvents(decision)) return decision;
        try {
          const result = await store.append(streamId, toNewEvents(decision, { ...causing, occurredAt: clock().toISOString() }), {
            expectedRevision: expectedRevisionOf(cache.revision),
          });
          // Our own events are folded from memory: no read-back of what we just wrote.
          cache = {
            state: decision.reduce(evolve, cache.state),
            revision: result.nextExpectedRevision,
            handledCommands: cache.handledCommands.add(causing.commandId),
          };
          return { kind: 'appended', events: decision, revision: result.nextExpectedRevision };
        } catch (error) {
          if (!(error instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw error;
          // Another process appended first: back off a little (jittered so racers spread out), catch up, decide again.
          logger('debug', 'inventory append conflict, retrying', { attempt, correlationId: causing.correlationId });
          await sleep(Math.random() * Math.min(2 * attempt, 20));
        }
      }
    });
  }

  async function snapshot(): Promise<InventoryState> {
    return queue.run(streamId, async () => {
      await catchUp();
      return cache.state;
    });
  }

  return {
    async addProduct({ actor, ...product }) {
      const { sku, name, price, currency, stock } = product;
      const outcome = await execute(
        { type: 'AddProduct', data: { sku: sku as Sku, name, price, currency, stock } },
        { commandId: newId(), correlationId: sku, ...(actor === undefined ? {} : { userId: actor.userId }) },
      );
      if (outcome.kind === 'rejected') throw rejectionError(outcome);
      return { sku: sku as Sku, created: outcome.kind === 'appended' };
    },

    async restock({ sku, quantity, actor }) {
      const outcome = await execute(
        { type: 'Restock', data: { sku: sku as Sku, quantity } },
        { commandId: newId(), correlationId: sku, ...(actor === undefined ? {} : { userId: actor.userId }) },
      );
      if (outcome.kind === 'rejected') throw rejectionError(outcome);
      const state = await snapshot();
      const product = state.status === 'stocked' ? state.products.get(sku) : undefined;
      if (!product) throw new NotFoundError(`product ${sku} not found`);
      return { sku: sku as Sku, available: product.available };
    },

    async priceLookup(skus) {
      const state = await snapshot();
      const prices = new Map<string, ProductPrice>();
      if (state.status === 'empty') return prices;
      for (const sku of skus) {
        const product = state.products.get(sku);
        if (product) prices.set(sku, { sku, name: product.name, price: product.price, currency: product.currency });
      }
      return prices;
    },

    snapshot,

    async handleSagaCommand(envelope) {
      const command = { type: envelope.type, data: envelope.data } as InventoryCommand;
      const outcome = await execute(command, {
        commandId: envelope.commandId,
        correlationId: envelope.metadata.correlationId,
        ...(envelope.metadata.userId === undefined ? {} : { userId: envelope.metadata.userId }),
      });
      logger(outcome.kind === 'rejected' ? 'warn' : 'debug', `${envelope.type}: ${outcome.kind}`, {
        correlationId: envelope.metadata.correlationId,
        commandId: envelope.commandId,
        ...(outcome.kind === 'appended' ? { events: outcome.events.map((e) => e.type) } : {}),
      });
      return outcome;
    },
  };
}
