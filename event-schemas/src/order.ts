import { z } from 'zod';
import { Amount, CustomerId, Currency, Email, IsoTime, LineItem, OrderId, PricedLineItem } from './ids';

/** What the order keeps of the card: a gateway token and the last four digits, never the number. */
export const PaymentMethod = z.strictObject({
  method: z.literal('card'),
  token: z.string().min(1).max(200),
  last4: z.string().regex(/^\d{4}$/),
});

const orderPlacedBase = {
  orderId: OrderId,
  customerId: CustomerId,
  customerEmail: Email,
  items: z.array(PricedLineItem).min(1).max(50),
  total: Amount,
  payment: PaymentMethod,
  placedAt: IsoTime,
};

/** v1 (the single-currency days) had no `currency`; every v1 total was in USD. */
export const OrderPlacedV1 = z.strictObject(orderPlacedBase);
export const OrderPlaced = z.strictObject({ ...orderPlacedBase, currency: Currency });
export const OrderConfirmed = z.strictObject({ orderId: OrderId, confirmedAt: IsoTime });
export const OrderRejected = z.strictObject({ orderId: OrderId, reason: z.string().min(1).max(500), rejectedAt: IsoTime });
export const OrderCancellationRequested = z.strictObject({
  orderId: OrderId,
  reason: z.string().max(500).optional(),
  requestedAt: IsoTime,
});
export const OrderCancelled = z.strictObject({ orderId: OrderId, reason: z.string().min(1).max(500), cancelledAt: IsoTime });

export const orderEvents = {
  OrderPlaced,
  OrderConfirmed,
  OrderRejected,
  OrderCancellationRequested,
  OrderCancelled,
} as const;

/**
 * A test or real card number as the client sends it (spaces and dashes allowed between the
 * digits); it never reaches an event. Checked before the transform, so the published
 * contract (the input's JSON Schema) says exactly what is accepted.
 */
export const CardNumber = z
  .string()
  .max(64)
  .regex(/^[ -]*(?:[0-9][ -]*){12,19}$/, { error: 'card must be 12-19 digits' })
  .transform((s) => s.replace(/[ -]/g, ''));

/** Body of `POST /api/orders`. */
export const PlaceOrderRequest = z.strictObject({
  orderId: OrderId.optional(),
  items: z.array(LineItem).min(1).max(50),
  payment: z.strictObject({ card: CardNumber }),
});
export type PlaceOrderRequest = z.infer<typeof PlaceOrderRequest>;

export const CancelOrderRequest = z.strictObject({ reason: z.string().max(500).optional() }).optional();
