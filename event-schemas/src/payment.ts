import { z } from 'zod';
import { Amount, Currency, OrderId, PaymentId } from './ids';

export const DeclineReason = z.enum(['card_declined', 'insufficient_funds', 'gateway_unavailable', 'unknown_card']);
export type DeclineReason = z.infer<typeof DeclineReason>;

const money = { amount: Amount, currency: Currency };

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

export const paymentEvents = { PaymentAuthorized, PaymentCaptured, PaymentDeclined, PaymentRefunded } as const;
