/**
 * Order command handlers. Signatures (the HTTP layer and the order consumer code against these):
 *
 *   createOrderHandlers(deps: OrderHandlerDeps): OrderHandlers
 *     deps = { store: EventStore; clock: () => Date; priceLookup: PriceLookup; logger?: Logger; newId?: () => string }
 *
 *   placeOrder(input: PlaceOrderInput): Promise<{ orderId: OrderId; created: boolean }>
 *     input = { customer: { id, email }, items: [{ sku, quantity }], payment: { token, last4 },
 *               orderId?: string, idempotencyKey?: string, userId?: string }
 *     orderId = input.orderId ?? deterministicId('order', customer.id, idempotencyKey) ?? newId()
 *     A repeated placement with the same content returns { orderId, created: false }.
 *     Throws ValidationError (unknown sku, mixed currencies), ConflictError (same id, other content).
 *
 *   requestCancellation(input: { orderId: string; reason?: string; actor: Actor }): Promise<{ orderId; requested: boolean }>
 *     Throws NotFoundError, ForbiddenError (not the owner nor admin), IllegalStateError (order ended -> 409).
 *
 *   handleSagaCommand(envelope: CommandEnvelope<'ConfirmOrder' | 'RejectOrder' | 'CancelOrder'>): Promise<CommandOutcome<OrderEvent>>
 *     Used by the consumer; never throws for a rejection (returned as a value).
 */
import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { CustomerId, LineItem, OrderId, PricedLineItem } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import { ValidationError, type Issue } from '@saga/platform/errors';
import type { EventStore } from '@saga/platform/event-store/port';
import { deterministicId, newId as randomId } from '@saga/platform/ids';
import type { Actor } from '../shared/actor';
import { withGroupCommit } from '../shared/group-commit';
import { aggregateLoader, handleCommand, rejectionError, type CommandOutcome } from '../shared/command-handler';
import type { PriceLookup } from '../shared/price-lookup';
import { silentLogger, type Clock, type Logger } from '../shared/runtime';
import { decide, type OrderCommand } from './decide';
import { evolve, initialState, type OrderEvent } from './state';

export interface OrderHandlerDeps {
  store: EventStore;
  clock: Clock;
  priceLookup: PriceLookup;
  logger?: Logger;
  newId?: () => string;
}

export interface PlaceOrderInput {
  customer: { id: string; email: string };
  items: LineItem[];
  /** From PaymentGateway.tokenize: the card number itself never reaches the order. */
  payment: { token: string; last4: string };
  orderId?: string;
  idempotencyKey?: string;
  userId?: string;
}

export interface PlaceOrderResult {
  orderId: OrderId;
  created: boolean;
}

export interface RequestCancellationInput {
  orderId: string;
  reason?: string;
  actor: Actor;
}

export interface OrderHandlers {
  placeOrder(input: PlaceOrderInput): Promise<PlaceOrderResult>;
  requestCancellation(input: RequestCancellationInput): Promise<{ orderId: OrderId; requested: boolean }>;
  handleSagaCommand(envelope: CommandEnvelope<'ConfirmOrder' | 'RejectOrder' | 'CancelOrder'>): Promise<CommandOutcome<OrderEvent>>;
}

export function createOrderHandlers(deps: OrderHandlerDeps): OrderHandlers {
  const { clock, priceLookup } = deps;
  // Concurrent commands (a bus batch's, HTTP requests) share a commit.
  const store = withGroupCommit(deps.store);
  const logger = deps.logger ?? silentLogger;
  const newId = deps.newId ?? randomId;
  // Each command reads only what its stream gained since the last one (command-handler.ts).
  const load = aggregateLoader(store, initialState, evolve);

  const run = (command: OrderCommand, commandId: string, userId: string | undefined, skipHandledCommands = true, fresh = false) =>
    handleCommand({
      store,
      load,
      streamId: streamIdFor.order(command.data.orderId),
      initialState,
      evolve,
      decide: (state) => decide(command, state, { now: clock().toISOString() }),
      causation: {
        commandId,
        correlationId: command.data.orderId,
        occurredAt: clock().toISOString(),
        ...(userId === undefined ? {} : { userId }),
      },
      skipHandledCommands,
      // A stream under an id made just now has no events to read: the first attempt decides on
      // the empty stream and appends with 'no_stream', which the store checks as ever.
      ...(fresh ? { loaded: { state: initialState, revision: -1, handledCommands: new Set<string>() } } : {}),
    });

  return {
    async placeOrder(input) {
      const generated = input.orderId === undefined && input.idempotencyKey === undefined;
      const orderId = (input.orderId ??
        (input.idempotencyKey === undefined ? newId() : deterministicId('order', input.customer.id, input.idempotencyKey))) as OrderId;
      const { items, total, currency } = await priceItems(input.items, priceLookup);
      const outcome = await run(
        {
          type: 'PlaceOrder',
          data: {
            orderId,
            customer: { id: input.customer.id as CustomerId, email: input.customer.email },
            items,
            total,
            currency,
            payment: input.payment,
          },
        },
        // The same placement always yields the same command (and event) id, so a retry racing
        // the first is recognised by the store; other content under that id yields other ids,
        // loses the race and is refused as a conflict by the decider.
        deterministicId('PlaceOrder', orderId, placementKey(input)),
        input.userId ?? input.customer.id,
        false,
        generated,
      );
      if (outcome.kind === 'rejected') throw rejectionError(outcome);
      logger('info', outcome.kind === 'appended' ? 'order placed' : 'order placement repeated', { orderId, correlationId: orderId });
      return { orderId, created: outcome.kind === 'appended' };
    },

    async requestCancellation({ orderId, reason, actor }) {
      const outcome = await run(
        {
          type: 'RequestCancellation',
          data: { orderId: orderId as OrderId, ...(reason === undefined ? {} : { reason }), requestedBy: actor },
        },
        newId(),
        actor.userId,
      );
      if (outcome.kind === 'rejected') throw rejectionError(outcome);
      return { orderId: orderId as OrderId, requested: outcome.kind === 'appended' };
    },

    async handleSagaCommand(envelope) {
      const command = { type: envelope.type, data: envelope.data } as OrderCommand;
      const outcome = await run(command, envelope.commandId, envelope.metadata.userId);
      logger(outcome.kind === 'rejected' ? 'warn' : 'debug', `${envelope.type}: ${outcome.kind}`, {
        correlationId: envelope.metadata.correlationId,
        commandId: envelope.commandId,
        ...(outcome.kind === 'appended' ? {} : { reason: outcome.kind === 'ignored' ? outcome.reason : outcome.message }),
      });
      return outcome;
    },
  };
}

/** Prices every line from the inventory; all lines must exist and share one currency. */
async function priceItems(lines: LineItem[], priceLookup: PriceLookup) {
  const prices = await priceLookup(lines.map((line) => line.sku));
  const issues: Issue[] = [];
  const items: PricedLineItem[] = [];
  lines.forEach((line, i) => {
    const product = prices.get(line.sku);
    if (!product) issues.push({ path: ['items', i, 'sku'], message: `unknown product ${line.sku}`, code: 'unknown_product' });
    else items.push({ sku: line.sku, name: product.name, quantity: line.quantity, unitPrice: product.price });
  });
  if (issues.length > 0) throw new ValidationError('order contains unknown products', issues);
  const currencies = new Set(lines.map((line) => prices.get(line.sku)!.currency));
  if (currencies.size > 1) {
    throw new ValidationError('all items of an order must share one currency', [
      { path: ['items'], message: `mixed currencies: ${[...currencies].join(', ')}`, code: 'mixed_currencies' },
    ]);
  }
  const total = items.reduce((sum, item) => sum + item.unitPrice * item.quantity, 0);
  return { items, total, currency: [...currencies][0]! };
}

/** What makes two placements the same one (prices and tokens may differ between retries). */
const placementKey = (input: PlaceOrderInput) =>
  JSON.stringify([input.customer.id, input.items.map((item) => [item.sku, item.quantity]), input.payment.last4]);
