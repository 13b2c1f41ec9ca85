import { Router } from 'express';
import { z } from 'zod';
import { AddProductRequest, RestockRequest } from '@saga/event-schemas/inventory';
import { Sku } from '@saga/event-schemas/ids';
import { CancelOrderRequest, PlaceOrderRequest } from '@saga/event-schemas/order';
import type { Jwt } from '@saga/platform/auth/jwt';
import { ForbiddenError, NotFoundError, ValidationError } from '@saga/platform/errors';
import { deterministicId } from '@saga/platform/ids';
import { authenticate, requireRole, userOf } from '@saga/platform/http/auth-middleware';
import { parseWith } from '@saga/platform/http/validate';
import type { OrderHandlers } from '../order/handlers';
import { InvalidCardError, type PaymentGateway } from '../payment/gateway';
import type { Actor } from '../shared/actor';

/** What the routes need of the inventory; the inventory handlers satisfy it. */
export interface InventoryCommands {
  addProduct(input: AddProductRequest & { actor: Actor }): Promise<unknown>;
  restock(input: { sku: string; quantity: number; actor: Actor }): Promise<unknown>;
}

export interface CommandRouterDeps {
  jwt: Pick<Jwt, 'verifyWithExpiry'>;
  orders: Pick<OrderHandlers, 'placeOrder' | 'requestCancellation'>;
  inventory: InventoryCommands;
  /** The card number stops at the gateway's tokenizer: the order keeps a token and the last four digits. */
  payments: Pick<PaymentGateway, 'tokenize'>;
}

/** A client's retry key: short and plain, since it becomes part of a derived order id. */
const IdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, { error: "Idempotency-Key must be 1-128 letters, digits or '._:-'" })
  .optional();

const OrderIdParam = z.strictObject({ orderId: PlaceOrderRequest.shape.orderId.unwrap() });

/**
 * A client-chosen order id names an order within its customer's own orders, like an
 * Idempotency-Key: the order's id is derived from both. So two customers choosing the same
 * id get two orders, and the answer (202 and an id) never tells whether someone else's order
 * has that id. The same customer repeating it gets the same order back.
 */
const scopedOrderId = (customerId: string, chosen: string) => deterministicId('order', customerId, 'client-order-id', chosen);
const SkuParam = z.strictObject({ sku: Sku });

/**
 * The command side's HTTP routes. Each answers 202 once the command's events are appended:
 * what follows (the saga) happens asynchronously and shows in the read API.
 */
export function createCommandRouter(deps: CommandRouterDeps): Router {
  const { orders, inventory } = deps;
  const router = Router();
  const auth = authenticate(deps.jwt);
  const tokenize = async (number: string) => {
    try {
      return await deps.payments.tokenize({ number });
    } catch (err) {
      if (err instanceof InvalidCardError) {
        throw new ValidationError('the card was refused', [{ path: ['payment', 'card'], message: err.message, code: 'invalid_card' }]);
      }
      throw err;
    }
  };
  const actorOf = (user: { id: string; role: Actor['role'] }): Actor => ({ userId: user.id, role: user.role });

  router.post('/api/orders', auth, requireRole('customer', 'admin'), async (req, res) => {
    const user = userOf(req);
    const idempotencyKey = parseWith(IdempotencyKey, req.get('idempotency-key'), 'Idempotency-Key header');
    const body = parseWith(PlaceOrderRequest, req.body);
    const payment = await tokenize(body.payment.card);
    const { orderId, created } = await orders.placeOrder({
      customer: { id: user.id, email: user.email },
      items: body.items,
      payment,
      ...(body.orderId === undefined ? {} : { orderId: scopedOrderId(user.id, body.orderId) }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      userId: user.id,
    });
    req.log.info({ orderId, created }, created ? 'order placed' : 'order placement repeated');
    res.status(202).location(`/api/orders/${orderId}`).json({ orderId });
  });

  router.post('/api/orders/:orderId/cancel', auth, requireRole('customer', 'admin'), async (req, res) => {
    const { orderId } = parseWith(OrderIdParam, req.params, 'order id');
    const body = parseWith(CancelOrderRequest, req.body);
    try {
      await orders.requestCancellation({
        orderId,
        ...(body?.reason === undefined ? {} : { reason: body.reason }),
        actor: actorOf(userOf(req)),
      });
    } catch (err) {
      // Another customer's order is answered as absent, so order ids can't be probed.
      if (err instanceof ForbiddenError) throw new NotFoundError(`order ${orderId} not found`);
      throw err;
    }
    res.status(202).json({ orderId });
  });

  router.post('/api/admin/products', auth, requireRole('admin'), async (req, res) => {
    const product = parseWith(AddProductRequest, req.body);
    await inventory.addProduct({ ...product, actor: actorOf(userOf(req)) });
    res.status(201).location(`/api/products/${product.sku}`).json({ sku: product.sku });
  });

  router.post('/api/admin/products/:sku/restock', auth, requireRole('admin'), async (req, res) => {
    const { sku } = parseWith(SkuParam, req.params, 'sku');
    const { quantity } = parseWith(RestockRequest, req.body);
    await inventory.restock({ sku, quantity, actor: actorOf(userOf(req)) });
    res.status(202).json({ sku, quantity });
  });

  return router;
}
