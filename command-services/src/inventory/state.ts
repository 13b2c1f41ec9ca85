import type { EventOf } from '@saga/event-schemas/catalog';
import type { LineItem } from '@saga/event-schemas/ids';

export type InventoryEvent =
  | EventOf<'ProductAdded'>
  | EventOf<'ProductRestocked'>
  | EventOf<'StockReserved'>
  | EventOf<'StockReservationFailed'>
  | EventOf<'StockReleased'>
  | EventOf<'StockCommitted'>;

/** One sku. Invariant: initial + restocked - sold = available + reserved, none negative. */
export interface ProductStock {
  sku: string;
  name: string;
  /** Minor units. */
  price: number;
  currency: string;
  /** On hand and free to reserve. */
  available: number;
  reserved: number;
  sold: number;
}

/**
 * The whole warehouse is one aggregate so an order's items are reserved all-or-none in one
 * append. Only reservations still held are kept: a released or committed one has nothing
 * left to undo, and keeping every past order would make each event copy an ever-growing map.
 */
export type InventoryState =
  | { status: 'empty' }
  | {
      status: 'stocked';
      products: ReadonlyMap<string, ProductStock>;
      /** Order id -> the lines it holds reserved. */
      reservations: ReadonlyMap<string, readonly LineItem[]>;
    };

export const initialState: InventoryState = { status: 'empty' };

type Stocked = Extract<InventoryState, { status: 'stocked' }>;

export function evolve(state: InventoryState, event: InventoryEvent): InventoryState {
  const stocked: Stocked = state.status === 'empty' ? { status: 'stocked', products: new Map(), reservations: new Map() } : state;
  switch (event.type) {
    case 'ProductAdded': {
      const { sku, name, price, currency, stock } = event.data;
      const products = new Map(stocked.products);
      products.set(sku, { sku, name, price, currency, available: stock, reserved: 0, sold: 0 });
      return { ...stocked, products };
    }
    case 'ProductRestocked':
      return { ...stocked, products: adjust(stocked.products, [event.data], (p, q) => ({ ...p, available: p.available + q })) };
    case 'StockReserved': {
      const reservations = new Map(stocked.reservations);
      reservations.set(event.data.orderId, event.data.items);
      const products = adjust(stocked.products, event.data.items, (p, q) => ({ ...p, available: p.available - q, reserved: p.reserved + q }));
      return { ...stocked, products, reservations };
    }
    case 'StockReservationFailed':
      return state;
    case 'StockReleased': {
      const reservations = new Map(stocked.reservations);
      reservations.delete(event.data.orderId);
      const products = adjust(stocked.products, event.data.items, (p, q) => ({ ...p, available: p.available + q, reserved: p.reserved - q }));
      return { ...stocked, products, reservations };
    }
    case 'StockCommitted': {
      const reservations = new Map(stocked.reservations);
      reservations.delete(event.data.orderId);
      const products = adjust(stocked.products, event.data.items, (p, q) => ({ ...p, reserved: p.reserved - q, sold: p.sold + q }));
      return { ...stocked, products, reservations };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

/** A copy of `products` with `change` applied once per line (a sku may appear in several lines). */
function adjust(
  products: ReadonlyMap<string, ProductStock>,
  lines: readonly { sku: string; quantity: number }[],
  change: (product: ProductStock, quantity: number) => ProductStock,
): ReadonlyMap<string, ProductStock> {
  const next = new Map(products);
  for (const { sku, quantity } of lines) {
    const product = next.get(sku);
    if (product) next.set(sku, change(product, quantity));
  }
  return next;
}
