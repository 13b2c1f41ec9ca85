import type { AuthUser } from '@saga/platform/auth/jwt';
import { NotFoundError } from '@saga/platform/errors';
import type { OrderQueries, OrderView } from '@saga/projections/projectors/orders';

/**
 * Who may read what: an admin reads everything; anyone else reads only their own orders and
 * what hangs off them. Another customer's order is "not found", not "forbidden", so ids
 * cannot be probed.
 */
export const isAdmin = (user: AuthUser): boolean => user.role === 'admin';

export async function visibleOrder(orders: OrderQueries, user: AuthUser, orderId: string): Promise<OrderView> {
  const order = await orders.get(orderId);
  if (!order || (!isAdmin(user) && order.customerId !== user.id)) throw new NotFoundError(`order ${orderId} not found`);
  return order;
}
