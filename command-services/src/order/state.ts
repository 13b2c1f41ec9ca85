import type { EventData, EventOf } from '@saga/event-schemas/catalog';

export type OrderEvent =
  | EventOf<'OrderPlaced'>
  | EventOf<'OrderConfirmed'>
  | EventOf<'OrderRejected'>
  | EventOf<'OrderCancellationRequested'>
  | EventOf<'OrderCancelled'>;

/** What an order keeps from its placement, whatever became of it. */
export type OrderDetails = EventData<'OrderPlaced'>;

/** An order is `pending` until its saga ends it: `confirmed`, `rejected` or `cancelled`. */
export type OrderState =
  | { status: 'none' }
  | { status: 'pending'; order: OrderDetails; cancellationRequested: boolean }
  | { status: 'confirmed'; order: OrderDetails; confirmedAt: string }
  | { status: 'rejected'; order: OrderDetails; reason: string; rejectedAt: string }
  | { status: 'cancelled'; order: OrderDetails; reason: string; cancelledAt: string };

export const initialState: OrderState = { status: 'none' };

export function evolve(state: OrderState, event: OrderEvent): OrderState {
  switch (event.type) {
    case 'OrderPlaced':
      return { status: 'pending', order: event.data, cancellationRequested: false };
    case 'OrderConfirmed':
      return state.status === 'none' ? state : { status: 'confirmed', order: state.order, confirmedAt: event.data.confirmedAt };
    case 'OrderRejected':
      return state.status === 'none'
        ? state
        : { status: 'rejected', order: state.order, reason: event.data.reason, rejectedAt: event.data.rejectedAt };
    case 'OrderCancellationRequested':
      return state.status === 'pending' ? { ...state, cancellationRequested: true } : state;
    case 'OrderCancelled':
      return state.status === 'none'
        ? state
        : { status: 'cancelled', order: state.order, reason: event.data.reason, cancelledAt: event.data.cancelledAt };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
