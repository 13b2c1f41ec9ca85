import { Router } from 'express';
import { z } from 'zod';
import { AddProductRequest, RestockRequest } from '@saga/event-schemas/inventory';
import { Sku } from '@saga/event-schemas/ids';
import { CancelOrderRequest, PlaceOrderRequest } from '@saga/event-schemas/order';
import type { Jwt } from '@saga/platform/auth/jwt';
import { ForbiddenError, NotFoundError, ValidationError } from '@saga/platform/errors';
import { deterministicId } from '@saga/platform/ids';
import { authenticate, requireRole, userOf } from '@saga/platform/http/auth-middleware';
import { bearer, json, problems, type Paths } from '@saga/platform/http/openapi';
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

const OrderAccepted = z.object({ orderId: z.string() }).meta({ id: 'OrderAccepted' });

/** The command routes in the OpenAPI document, from the schemas the routes parse with. */
export const commandPaths: Paths = {
  '/api/orders': {
    post: {
      operationId: 'placeOrder',
      tags: ['orders'],
      summary: 'Place an order',
      description:
        'Appends OrderPlaced and answers at once; the saga (stock, payment, confirmation, email) runs asynchronously and shows in `GET /api/orders/{orderId}` and the live stream. ' +
        'A retry with the same `Idempotency-Key` (or the same client-chosen `orderId`) is a no-op that answers the first result. ' +
        'Test cards: 4242424242424242 approves, 4000000000000002 declines, 4000000000009995 has insufficient funds.',
      security: bearer,
      requestParams: { header: z.object({ 'idempotency-key': IdempotencyKey }) },
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: PlaceOrderRequest,
            examples: { approved: { value: { items: [{ sku: 'MUG-001', quantity: 1 }], payment: { card: '4242424242424242' } } } },
          },
        },
      },
      responses: {
        '202': json('The order is placed; its saga has started', OrderAccepted, {
          headers: z.object({ location: z.string().meta({ description: '`/api/orders/{orderId}`' }) }),
          links: {
            GetOrder: { operationId: 'getOrder', parameters: { orderId: '$response.body#/orderId' }, description: 'The placed order' },
            GetSaga: { operationId: 'getSaga', parameters: { orderId: '$response.body#/orderId' }, description: 'Its saga' },
            CancelOrder: { operationId: 'cancelOrder', parameters: { orderId: '$response.body#/orderId' }, description: 'Cancel it' },
          },
        }),
        ...problems(401, 403, 404, 409, 413),
      },
    },
  },
  '/api/orders/{orderId}/cancel': {
    post: {
      operationId: 'cancelOrder',
      tags: ['orders'],
      summary: 'Request the cancellation of an order',
      description: 'The saga undoes the completed steps in reverse (refund, release stock), cancels and emails. Another customer’s order is a 404.',
      security: bearer,
      requestParams: { path: OrderIdParam },
      requestBody: { required: false, content: { 'application/json': { schema: CancelOrderRequest } } },
      responses: { '202': json('Cancellation requested', OrderAccepted), ...problems(401, 403, 404, 409, 413) },
    },
  },
  '/api/admin/products': {
    post: {
      operationId: 'addProduct',
      tags: ['catalog'],
      summary: 'Add a product to the catalog (admin)',
      security: bearer,
      requestBody: { required: true, content: { 'application/json': { schema: AddProductRequest } } },
      responses: {
        '201': json('The product is added', z.object({ sku: z.string() }), { headers: z.object({ location: z.string() }) }),
        ...problems(401, 403, 409, 413),
      },
    },
  },
  '/api/admin/products/{sku}/restock': {
    post: {
      operationId: 'restockProduct',
      tags: ['catalog'],
      summary: 'Add stock to a product (admin)',
      security: bearer,
      requestParams: { path: SkuParam },
      requestBody: { required: true, content: { 'application/json': { schema: RestockRequest, examples: { ten: { value: { quantity: 10 } } } } } },
      responses: { '202': json('Stock added', z.object({ sku: z.string(), quantity: z.int() })), ...problems(401, 403, 404, 409, 413) },
    },
  },
};
