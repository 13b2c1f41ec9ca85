import { z } from 'zod';

/** Ids travel inside stream names (`order-<id>`), so they are restricted to URL- and stream-safe characters. */
const idPattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const idSchema = (what: string) =>
  z.string().regex(idPattern, { error: `${what} must be 1-64 letters, digits, '-' or '_'` });

export const OrderId = idSchema('orderId').brand<'OrderId'>();
export type OrderId = z.infer<typeof OrderId>;

export const CustomerId = idSchema('customerId').brand<'CustomerId'>();
export type CustomerId = z.infer<typeof CustomerId>;

export const PaymentId = idSchema('paymentId').brand<'PaymentId'>();
export type PaymentId = z.infer<typeof PaymentId>;

export const EmailId = idSchema('emailId').brand<'EmailId'>();
export type EmailId = z.infer<typeof EmailId>;

/** Stock keeping unit: upper-case letters, digits and dashes, e.g. `MUG-001`. */
export const Sku = z
  .string()
  .regex(/^[A-Z0-9][A-Z0-9-]{1,31}$/, { error: 'sku must be 2-32 upper-case letters, digits or dashes' })
  .brand<'Sku'>();
export type Sku = z.infer<typeof Sku>;

/** Event and command ids are UUIDs; deterministic ones (UUIDv5) are derived for retried work. */
export const EventId = z.guid().brand<'EventId'>();
export type EventId = z.infer<typeof EventId>;

export const CommandId = z.guid().brand<'CommandId'>();
export type CommandId = z.infer<typeof CommandId>;

/** Money is always integer minor units (cents) with an ISO 4217 code. */
export const Amount = z.int().nonnegative();
export const Currency = z.string().regex(/^[A-Z]{3}$/, { error: 'currency must be an ISO 4217 code such as EUR' });
export const Quantity = z.int().positive().max(10_000);

export const LineItem = z.strictObject({ sku: Sku, quantity: Quantity });
export type LineItem = z.infer<typeof LineItem>;

export const PricedLineItem = z.strictObject({
  sku: Sku,
  name: z.string().min(1).max(200),
  quantity: Quantity,
  unitPrice: Amount,
});
export type PricedLineItem = z.infer<typeof PricedLineItem>;

export const Email = z.email().max(254);
export const IsoTime = z.iso.datetime();
