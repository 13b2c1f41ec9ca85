import type { CommandData } from '@saga/event-schemas/commands';
import type { EventData } from '@saga/event-schemas/catalog';
import type { LineItem, Sku } from '@saga/event-schemas/ids';
import { ignore, reject, type Decision } from '../shared/decision';
import type { InventoryEvent, InventoryState, ProductStock } from './state';

export interface AddProduct {
  type: 'AddProduct';
  data: EventData<'ProductAdded'>;
}
export interface Restock {
  type: 'Restock';
  data: EventData<'ProductRestocked'>;
}
export interface ReserveStock {
  type: 'ReserveStock';
  data: CommandData<'ReserveStock'>;
}
export interface ReleaseStock {
  type: 'ReleaseStock';
  data: CommandData<'ReleaseStock'>;
}
export interface CommitStock {
  type: 'CommitStock';
  data: CommandData<'CommitStock'>;
}

export type InventoryCommand = AddProduct | Restock | ReserveStock | ReleaseStock | CommitStock;

/** The inventory's decisions need no clock: its events carry no time of their own. */
export type InventoryContext = Record<string, never>;

export function decide(command: InventoryCommand, state: InventoryState, _context: InventoryContext = {}): Decision<InventoryEvent> {
  const products: ReadonlyMap<string, ProductStock> = state.status === 'stocked' ? state.products : new Map();
  const reservations: ReadonlyMap<string, readonly LineItem[]> = state.status === 'stocked' ? state.reservations : new Map();
  switch (command.type) {
    case 'AddProduct': {
      const existing = products.get(command.data.sku);
      if (!existing) return [{ type: 'ProductAdded', data: command.data }];
      const { sku, name, price, currency } = command.data;
      // Seeding the demo catalog twice is a no-op; a different product under a taken sku is not.
      return existing.name === name && existing.price === price && existing.currency === currency
        ? ignore('ProductAlreadyAdded')
        : reject('conflict', `product ${sku} already exists`);
    }
    case 'Restock': {
      if (!products.has(command.data.sku)) return reject('not-found', `product ${command.data.sku} not found`);
      return [{ type: 'ProductRestocked', data: command.data }];
    }
    case 'ReserveStock': {
      const { orderId, items } = command.data;
      if (reservations.has(orderId)) return ignore('AlreadyReserved');
      const requested = new Map<Sku, number>();
      for (const { sku, quantity } of items) requested.set(sku, (requested.get(sku) ?? 0) + quantity);
      const shortages = [...requested]
        .map(([sku, quantity]) => ({ sku, requested: quantity, available: products.get(sku)?.available ?? 0 }))
        .filter((s) => s.requested > s.available);
      if (shortages.length > 0) {
        const unknown = shortages.filter((s) => !products.has(s.sku)).map((s) => s.sku);
        const reason =
          unknown.length > 0 ? `unknown products: ${unknown.join(', ')}` : `insufficient stock: ${shortages.map((s) => s.sku).join(', ')}`;
        return [{ type: 'StockReservationFailed', data: { orderId, reason, shortages } }];
      }
      return [{ type: 'StockReserved', data: { orderId, items } }];
    }
    case 'ReleaseStock': {
      const held = reservations.get(command.data.orderId);
      // Releasing what the order does not hold (never reserved, already released or sold) changes nothing.
      if (!held) return ignore('NothingReserved');
      return [{ type: 'StockReleased', data: { orderId: command.data.orderId, items: [...held] } }];
    }
    case 'CommitStock': {
      const held = reservations.get(command.data.orderId);
      if (!held) return ignore('NothingReserved');
      return [{ type: 'StockCommitted', data: { orderId: command.data.orderId, items: [...held] } }];
    }
    default: {
      const unreachable: never = command;
      return unreachable;
    }
  }
}
