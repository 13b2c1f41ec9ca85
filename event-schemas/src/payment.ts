import { z } from 'zod';
import { Amount, Currency, OrderId, PaymentId } from './ids';

export const DeclineReason = z.enum(['card_declined', 'insufficient_funds', 'gateway_unavailable', 'unknown_card']);
export type DeclineReason = z.infer<typeof DeclineReason>;

const money = { amount: Amount, currency: Currency };

/**
 * A charge is about to be asked of the provider, recorded before the call so that a crash during
 * it loses nothing: on restart every open attempt is looked up at the provider by its key.
 */
export const PaymentAttemptStarted = z.strictObject({ orderId: OrderId, ...money, idempotencyKey: z.string().min(1).max(200) });
export const PaymentAuthorized = z.strictObject({ orderId: OrderId, paymentId: PaymentId, ...money, attempts: z.int().positive() });
export const PaymentCaptured = z.strictObject({ orderId: OrderId, paymentId: PaymentId, ...money });
export const PaymentDeclined = z.strictObject({
  orderId: OrderId,
  ...money,
  reason: DeclineReason,
  message: z.string().max(500),
  attempts: z.int().positive(),
});
export const PaymentRefunded = z.strictObject({
  orderId: OrderId,
  paymentId: PaymentId,
  ...money,
  reason: z.string().min(1).max(500),
});

/** A refund is about to be asked of the provider: like a charge, recorded before the call. */
export const PaymentRefundStarted = z.strictObject({
  orderId: OrderId,
  paymentId: PaymentId,
  ...money,
  reason: z.string().min(1).max(500),
  idempotencyKey: z.string().min(1).max(200),
});

export const paymentEvents = { PaymentAttemptStarted, PaymentAuthorized, PaymentCaptured, PaymentDeclined, PaymentRefundStarted, PaymentRefunded } as const;
