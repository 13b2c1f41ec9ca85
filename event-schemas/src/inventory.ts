import { z } from 'zod';
import { Amount, Currency, LineItem, OrderId, Quantity, Sku } from './ids';

export const ProductAdded = z.strictObject({
  sku: Sku,
  name: z.string().min(1).max(200),
  price: Amount,
  currency: Currency,
  stock: z.int().nonnegative().max(1_000_000),
});
export const ProductRestocked = z.strictObject({ sku: Sku, quantity: Quantity });
export const StockReserved = z.strictObject({ orderId: OrderId, items: z.array(LineItem).min(1) });
export const StockReservationFailed = z.strictObject({
  orderId: OrderId,
  reason: z.string().min(1).max(500),
  shortages: z.array(z.strictObject({ sku: Sku, requested: Quantity, available: z.int().nonnegative() })),
});
export const StockReleased = z.strictObject({ orderId: OrderId, items: z.array(LineItem).min(1) });
export const StockCommitted = z.strictObject({ orderId: OrderId, items: z.array(LineItem).min(1) });

export const inventoryEvents = {
  ProductAdded,
  ProductRestocked,
  StockReserved,
  StockReservationFailed,
  StockReleased,
  StockCommitted,
} as const;

/** Body of `POST /api/admin/products` (price in minor units). */
export const AddProductRequest = ProductAdded;
export type AddProductRequest = z.infer<typeof AddProductRequest>;
/** Body of `POST /api/admin/products/:sku/restock`. */
export const RestockRequest = z.strictObject({ quantity: Quantity });
