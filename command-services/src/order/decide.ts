import type { CommandData } from '@saga/event-schemas/commands';
import type { CustomerId, OrderId, PricedLineItem } from '@saga/event-schemas/ids';
import type { Actor } from '../shared/actor';
import { ignore, reject, type Decision } from '../shared/decision';
import type { OrderDetails, OrderEvent, OrderState } from './state';

/** Placed over HTTP; items are already priced from the inventory, the card already tokenized. */
export interface PlaceOrder {
  type: 'PlaceOrder';
  data: {
    orderId: OrderId;
    customer: { id: CustomerId; email: string };
    items: PricedLineItem[];
    total: number;
    currency: string;
    payment: { token: string; last4: string };
  };
}
/** The customer (or an admin) asks to cancel; the saga decides what cancelling takes. */
export interface RequestCancellation {
  type: 'RequestCancellation';
  data: { orderId: OrderId; reason?: string; requestedBy: Actor };
}
export interface ConfirmOrder {
  type: 'ConfirmOrder';
  data: CommandData<'ConfirmOrder'>;
}
export interface RejectOrder {
  type: 'RejectOrder';
  data: CommandData<'RejectOrder'>;
}
export interface CancelOrder {
  type: 'CancelOrder';
  data: CommandData<'CancelOrder'>;
}

export type OrderCommand = PlaceOrder | RequestCancellation | ConfirmOrder | RejectOrder | CancelOrder;

export interface OrderContext {
  /** ISO time of the decision. */
  now: string;
}

export function decide(command: OrderCommand, state: OrderState, { now }: OrderContext): Decision<OrderEvent> {
  switch (command.type) {
    case 'PlaceOrder': {
      const { data } = command;
      if (state.status !== 'none') {
        // A retried placement (same idempotency key or client-chosen id) returns the first result.
        return samePlacement(state.order, data)
          ? ignore('AlreadyPlaced')
          : reject('conflict', `order ${data.orderId} already exists with different content`);
      }
      const sum = data.items.reduce((total, item) => total + item.unitPrice * item.quantity, 0);
      if (sum !== data.total) return reject('validation', `total ${data.total} does not match the items' sum ${sum}`);
      return [
        {
          type: 'OrderPlaced',
          data: {
            orderId: data.orderId,
            customerId: data.customer.id,
            customerEmail: data.customer.email,
            items: data.items,
            total: data.total,
            currency: data.currency,
            payment: { method: 'card', token: data.payment.token, last4: data.payment.last4 },
            placedAt: now,
          },
        },
      ];
    }
    case 'RequestCancellation': {
      const { orderId, reason, requestedBy } = command.data;
      if (state.status === 'none') return reject('not-found', `order ${orderId} not found`);
      if (requestedBy.role !== 'admin' && requestedBy.userId !== state.order.customerId) {
        return reject('forbidden', 'only the customer who placed the order or an admin may cancel it');
      }
      if (state.status !== 'pending') return reject('illegal-state', `order ${orderId} is already ${state.status}`);
      if (state.cancellationRequested) return ignore('CancellationAlreadyRequested');
      return [
        {
          type: 'OrderCancellationRequested',
          data: { orderId, ...(reason === undefined ? {} : { reason }), requestedAt: now },
        },
      ];
    }
    case 'ConfirmOrder': {
      const { orderId } = command.data;
      if (state.status === 'confirmed') return ignore('AlreadyConfirmed');
      if (state.status !== 'pending') return endedOrMissing(orderId, state);
      // The customer asked to cancel while the saga was confirming: the saga is now undoing
      // its steps and will send CancelOrder, so a ConfirmOrder already in flight must not win.
      if (state.cancellationRequested) return ignore('CancellationRequested');
      return [{ type: 'OrderConfirmed', data: { orderId, confirmedAt: now } }];
    }
    case 'RejectOrder': {
      const { orderId, reason } = command.data;
      if (state.status === 'rejected') return ignore('AlreadyRejected');
      if (state.status !== 'pending') return endedOrMissing(orderId, state);
      return [{ type: 'OrderRejected', data: { orderId, reason, rejectedAt: now } }];
    }
    case 'CancelOrder': {
      const { orderId, reason } = command.data;
      if (state.status === 'cancelled') return ignore('AlreadyCancelled');
      if (state.status !== 'pending') return endedOrMissing(orderId, state);
      return [{ type: 'OrderCancelled', data: { orderId, reason, cancelledAt: now } }];
    }
    default: {
      const unreachable: never = command;
      return unreachable;
    }
  }
}

function endedOrMissing(orderId: string, state: OrderState) {
  return state.status === 'none'
    ? reject('not-found', `order ${orderId} not found`)
    : reject('illegal-state', `order ${orderId} is already ${state.status}`);
}

/**
 * Same customer, same lines, same currency and card. Prices and the card token are left out:
 * a retry re-prices and re-tokenizes, and the first placement's values stand.
 */
function samePlacement(order: OrderDetails, data: PlaceOrder['data']): boolean {
  return (
    order.customerId === data.customer.id &&
    order.currency === data.currency &&
    order.payment.last4 === data.payment.last4 &&
    order.items.length === data.items.length &&
    order.items.every((item, i) => item.sku === data.items[i]?.sku && item.quantity === data.items[i]?.quantity)
  );
}
