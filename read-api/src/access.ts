import { streamIdFor } from '@saga/event-schemas/streams';
import type { AuthUser } from '@saga/platform/auth/jwt';
import { NotFoundError } from '@saga/platform/errors';
import type { EventStore } from '@saga/platform/event-store/port';
import { ServiceBusyError } from '@saga/platform/http/problem';
import type { OrderQueries, OrderView } from '@saga/projections/projectors/orders';
import type { Eventually } from './catch-up';

/**
 * Who may read what: an admin reads everything; anyone else reads only their own orders and
 * what hangs off them. Another customer's order is "not found", not "forbidden", so ids
 * cannot be probed.
 */
export const isAdmin = (user: AuthUser): boolean => user.role === 'admin';

export type VisibleOrder = (user: AuthUser, orderId: string) => Promise<OrderView>;

export interface OrderAccessDeps {
  orders: OrderQueries;
  eventStore: EventStore;
  eventually: Eventually;
  /** How long a read waits for the read model to show an order the log already holds. Default 5000 ms. */
  catchUpMs?: number;
}

/**
 * One order as the read model has it, for a user who may see it. Read your writes: the
 * `Location` a placement answers names an order the read model may not show yet, so an order
 * missing from it but placed in the log (for this user) is waited for, up to `catchUpMs`,
 * rather than called "not found"; past that the answer is a 503 to retry. A missing order costs
 * one stream read more than the read model's miss.
 */
export function orderAccess(deps: OrderAccessDeps): VisibleOrder {
  const catchUpMs = deps.catchUpMs ?? 5000;
  const mayRead = (user: AuthUser, customerId: string | null) => isAdmin(user) || customerId === user.id;
  return async (user, orderId) => {
    const order = await deps.orders.get(orderId);
    if (order) {
      if (!mayRead(user, order.customerId)) throw new NotFoundError(`order ${orderId} not found`);
      return order;
    }
    const [first] = await deps.eventStore.readStream(streamIdFor.order(orderId), { limit: 1 });
    const placedFor = first?.type === 'OrderPlaced' ? (first.data as { customerId: string }).customerId : undefined;
    if (placedFor === undefined || !mayRead(user, placedFor)) throw new NotFoundError(`order ${orderId} not found`);
    const caughtUp = await deps.eventually(() => deps.orders.get(orderId), catchUpMs);
    if (!caughtUp) throw new ServiceBusyError(`order ${orderId} is placed, but the read model has not caught up with it yet; retry shortly`);
    return caughtUp;
  };
}
