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

/** A private copy of a state that a fold may change in place (`evolveInPlace`). */
export interface Draft {
  status: 'stocked';
  products: Map<string, ProductStock>;
  reservations: Map<string, readonly LineItem[]>;
}

/**
 * Copies the state's maps once, for folding many events into the copy: copying them per event
 * made a fold cost the number of reservations held for every event (a first start on a long
 * stream with many open orders spent seconds in it). The products inside are never changed in
 * place, only replaced, so the state copied from stays as it was.
 */
export function draftOf(state: InventoryState): Draft {
  return state.status === 'empty'
    ? { status: 'stocked', products: new Map(), reservations: new Map() }
    : { status: 'stocked', products: new Map(state.products), reservations: new Map(state.reservations) };
}

/** The state after one event, applied to a draft of `draftOf` and returned. */
export function evolveInPlace(draft: Draft, event: InventoryEvent): Draft {
  switch (event.type) {
    case 'ProductAdded': {
      const { sku, name, price, currency, stock } = event.data;
      draft.products.set(sku, { sku, name, price, currency, available: stock, reserved: 0, sold: 0 });
      return draft;
    }
    case 'ProductRestocked':
      adjust(draft.products, [event.data], (p, q) => ({ ...p, available: p.available + q }));
      return draft;
    case 'StockReserved':
      draft.reservations.set(event.data.orderId, event.data.items);
      adjust(draft.products, event.data.items, (p, q) => ({ ...p, available: p.available - q, reserved: p.reserved + q }));
      return draft;
    case 'StockReservationFailed':
      return draft;
    case 'StockReleased':
      draft.reservations.delete(event.data.orderId);
      adjust(draft.products, event.data.items, (p, q) => ({ ...p, available: p.available + q, reserved: p.reserved - q }));
      return draft;
    case 'StockCommitted':
      draft.reservations.delete(event.data.orderId);
      adjust(draft.products, event.data.items, (p, q) => ({ ...p, reserved: p.reserved - q, sold: p.sold + q }));
      return draft;
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

/** The state after one event (a new state; the one given is unchanged). */
export function evolve(state: InventoryState, event: InventoryEvent): InventoryState {
  // Changes nothing: no copy.
  if (event.type === 'StockReservationFailed') return state;
  return evolveInPlace(draftOf(state), event);
}

/** Applies `change` to `products` once per line (a sku may appear in several lines), replacing the entries. */
function adjust(
  products: Map<string, ProductStock>,
  lines: readonly { sku: string; quantity: number }[],
  change: (product: ProductStock, quantity: number) => ProductStock,
): void {
  for (const { sku, quantity } of lines) {
    const product = products.get(sku);
    if (product) products.set(sku, change(product, quantity));
  }
}
