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
 *   priceLookup(skus: readonly string[]): Promise<Map<string, ProductPrice>>   (a PriceLookup for createOrderHandlers;
 *     a sku this instance has not seen yet is looked up in the store)
 *   snapshot(): Promise<InventoryState>   (caught up with the store)
 *   handleSagaCommand(envelope: CommandEnvelope<'ReserveStock' | 'ReleaseStock' | 'CommitStock'>): Promise<CommandOutcome<InventoryEvent>>
 *
 * Every reservation hits the one `inventory-warehouse` stream: see warehouse-stream.ts for how
 * it is kept in memory, serialized in process, group-committed and retried across processes.
 */
import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { Sku } from '@saga/event-schemas/ids';
import { NotFoundError } from '@saga/platform/errors';
import type { EventStore } from '@saga/platform/event-store/port';
import { newId as randomId } from '@saga/platform/ids';
import type { Actor } from '../shared/actor';
import { rejectionError, type CommandOutcome } from '../shared/command-handler';
import type { PriceLookup, ProductPrice } from '../shared/price-lookup';
import { realSleep, silentLogger, type Clock, type Logger, type Sleep } from '../shared/runtime';
import type { InventoryCommand } from './decide';
import type { InventoryEvent, InventoryState } from './state';
import type { WarehouseSnapshots } from './warehouse-snapshots';
import { openWarehouseStream } from './warehouse-stream';

export interface InventoryHandlerDeps {
  store: EventStore;
  clock: Clock;
  logger?: Logger;
  newId?: () => string;
  /** Tries per command when other processes keep winning the append. */
  maxAttempts?: number;
  sleep?: Sleep;
  /** Snapshots of the warehouse stream, so a start does not fold every reservation ever made. */
  snapshots?: Promise<WarehouseSnapshots>;
  snapshotEvery?: number;
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

export function createInventoryHandlers(deps: InventoryHandlerDeps): InventoryHandlers {
  const { store, clock } = deps;
  const logger = deps.logger ?? silentLogger;
  const newId = deps.newId ?? randomId;
  const sleep = deps.sleep ?? realSleep;
  const warehouse = openWarehouseStream({
    store,
    clock,
    logger,
    sleep,
    maxAttempts: deps.maxAttempts ?? 50,
    ...(deps.snapshots ? { snapshots: deps.snapshots } : {}),
    ...(deps.snapshotEvery ? { snapshotEvery: deps.snapshotEvery } : {}),
  });
  const execute = warehouse.execute;
  const snapshot = warehouse.read;

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
      // A product's sale data never changes once added (AddProduct under a taken sku is a no-op
      // or a conflict), so a product this process already holds is priced from memory, without
      // queueing behind the warehouse's commands and reading the stream. Only a sku not held yet
      // is looked up in the store: another process may have added it.
      const held = warehouse.held();
      const allHeld = held.status === 'stocked' && skus.every((sku) => held.products.has(sku));
      const state = allHeld ? held : await snapshot();
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
