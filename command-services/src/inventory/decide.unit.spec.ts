import { describe, expect, it } from 'vitest';
import type { OrderId, Sku } from '@saga/event-schemas/ids';
import { deciderSpec } from '../shared/decider-spec';
import { decide } from './decide';
import { draftOf, evolve, evolveInPlace, initialState, type InventoryEvent } from './state';

const { given } = deciderSpec({ initialState, evolve, decide }, {});

const MUG = 'MUG-001' as Sku;
const LAMP = 'LAMP-001' as Sku;
const order1 = 'order-1' as OrderId;
const order2 = 'order-2' as OrderId;

const mugAdded: InventoryEvent = { type: 'ProductAdded', data: { sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 10 } };
const lampAdded: InventoryEvent = { type: 'ProductAdded', data: { sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', stock: 3 } };
const order1Reserved: InventoryEvent = {
  type: 'StockReserved',
  data: { orderId: order1, items: [{ sku: MUG, quantity: 2 }, { sku: LAMP, quantity: 3 }] },
};

describe('inventory: catalog', () => {
  it('adds a product with its price and initial stock', () =>
    given([]).when({ type: 'AddProduct', data: mugAdded.data as never }).then([mugAdded]));

  it('adding the same product again is a no-op (the demo seed runs on every start)', () =>
    given([mugAdded]).when({ type: 'AddProduct', data: { sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', stock: 99 } }).thenIgnored('ProductAlreadyAdded'));

  it('another product under a taken sku is a conflict', () =>
    given([mugAdded]).when({ type: 'AddProduct', data: { sku: MUG, name: 'Cup', price: 900, currency: 'EUR', stock: 1 } }).thenRejected('conflict'));

  it('restocks a known product', () =>
    given([mugAdded]).when({ type: 'Restock', data: { sku: MUG, quantity: 5 } }).then([{ type: 'ProductRestocked', data: { sku: MUG, quantity: 5 } }]));

  it('cannot restock an unknown product', () =>
    given([mugAdded]).when({ type: 'Restock', data: { sku: LAMP, quantity: 5 } }).thenRejected('not-found'));
});

describe('inventory: reservations', () => {
  it('reserves all of an order items when every line is in stock, down to the last unit', () =>
    given([mugAdded, lampAdded])
      .when({ type: 'ReserveStock', data: { orderId: order1, items: [{ sku: MUG, quantity: 2 }, { sku: LAMP, quantity: 3 }] } })
      .then([order1Reserved]));

  it('reserves none when one line is short, naming every shortage', () =>
    given([mugAdded, lampAdded, order1Reserved])
      .when({ type: 'ReserveStock', data: { orderId: order2, items: [{ sku: MUG, quantity: 1 }, { sku: LAMP, quantity: 1 }] } })
      .then([
        {
          type: 'StockReservationFailed',
          data: { orderId: order2, reason: 'insufficient stock: LAMP-001', shortages: [{ sku: LAMP, requested: 1, available: 0 }] },
        },
      ]));

  it('counts a sku listed twice in one order together', () =>
    given([lampAdded])
      .when({ type: 'ReserveStock', data: { orderId: order2, items: [{ sku: LAMP, quantity: 2 }, { sku: LAMP, quantity: 2 }] } })
      .then([
        {
          type: 'StockReservationFailed',
          data: { orderId: order2, reason: 'insufficient stock: LAMP-001', shortages: [{ sku: LAMP, requested: 4, available: 3 }] },
        },
      ]));

  it('an unknown product cannot be reserved', () =>
    given([mugAdded])
      .when({ type: 'ReserveStock', data: { orderId: order2, items: [{ sku: 'NOPE-1' as Sku, quantity: 1 }] } })
      .then([
        {
          type: 'StockReservationFailed',
          data: { orderId: order2, reason: 'unknown products: NOPE-1', shortages: [{ sku: 'NOPE-1' as Sku, requested: 1, available: 0 }] },
        },
      ]));

  it('reserving again for an order that holds its reservation is a no-op', () =>
    given([mugAdded, lampAdded, order1Reserved])
      .when({ type: 'ReserveStock', data: { orderId: order1, items: [{ sku: MUG, quantity: 2 }] } })
      .thenIgnored('AlreadyReserved'));

  it('releases exactly what the order holds', () =>
    given([mugAdded, lampAdded, order1Reserved])
      .when({ type: 'ReleaseStock', data: { orderId: order1 } })
      .then([{ type: 'StockReleased', data: { orderId: order1, items: [{ sku: MUG, quantity: 2 }, { sku: LAMP, quantity: 3 }] } }]));

  it('releasing twice, or for an order holding nothing, is a no-op', () => {
    given([mugAdded, lampAdded, order1Reserved, { type: 'StockReleased', data: order1Reserved.data as never }])
      .when({ type: 'ReleaseStock', data: { orderId: order1 } })
      .thenIgnored('NothingReserved');
    given([mugAdded]).when({ type: 'ReleaseStock', data: { orderId: order2 } }).thenIgnored('NothingReserved');
  });

  it('commits the reservation as sold', () =>
    given([mugAdded, lampAdded, order1Reserved])
      .when({ type: 'CommitStock', data: { orderId: order1 } })
      .then([{ type: 'StockCommitted', data: { orderId: order1, items: [{ sku: MUG, quantity: 2 }, { sku: LAMP, quantity: 3 }] } }]));

  it('a committed reservation can be neither committed again nor released', () => {
    const committed: InventoryEvent = { type: 'StockCommitted', data: order1Reserved.data as never };
    given([mugAdded, lampAdded, order1Reserved, committed]).when({ type: 'CommitStock', data: { orderId: order1 } }).thenIgnored('NothingReserved');
    given([mugAdded, lampAdded, order1Reserved, committed]).when({ type: 'ReleaseStock', data: { orderId: order1 } }).thenIgnored('NothingReserved');
  });
});

describe('inventory: evolve keeps initial + restocked - sold = available + reserved', () => {
  it('tracks available, reserved and sold per sku and the reservations held', () => {
    given([
      mugAdded,
      lampAdded,
      { type: 'ProductRestocked', data: { sku: MUG, quantity: 5 } },
      order1Reserved,
      { type: 'StockReserved', data: { orderId: order2, items: [{ sku: MUG, quantity: 4 }] } },
      { type: 'StockCommitted', data: order1Reserved.data as never },
    ]).thenState({
      status: 'stocked',
      products: new Map([
        [MUG, { sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', available: 9, reserved: 4, sold: 2 }],
        [LAMP, { sku: LAMP, name: 'Lamp', price: 3500, currency: 'EUR', available: 0, reserved: 0, sold: 3 }],
      ]),
      reservations: new Map([[order2, [{ sku: MUG, quantity: 4 }]]]),
    });
  });

  it('a release gives the units back and a failed reservation changes nothing', () => {
    given([
      mugAdded,
      { type: 'StockReserved', data: { orderId: order1, items: [{ sku: MUG, quantity: 3 }] } },
      { type: 'StockReservationFailed', data: { orderId: order2, reason: 'insufficient stock: MUG-001', shortages: [{ sku: MUG, requested: 20, available: 7 }] } },
      { type: 'StockReleased', data: { orderId: order1, items: [{ sku: MUG, quantity: 3 }] } },
    ]).thenState({
      status: 'stocked',
      products: new Map([[MUG, { sku: MUG, name: 'Mug', price: 1250, currency: 'EUR', available: 10, reserved: 0, sold: 0 }]]),
      reservations: new Map(),
    });
  });

  it('evolve does not change the state it is given', () => {
    const before = [mugAdded].reduce(evolve, initialState);
    const snapshot = structuredClone(before);
    evolve(before, { type: 'StockReserved', data: { orderId: order1, items: [{ sku: MUG, quantity: 3 }] } });
    given([mugAdded]).thenState(snapshot);
  });

  it('a fold into a draft equals evolving one event at a time, and leaves the state it was drafted from as it was', () => {
    const events: InventoryEvent[] = [
      mugAdded,
      lampAdded,
      order1Reserved,
      { type: 'StockReserved', data: { orderId: order2, items: [{ sku: MUG, quantity: 4 }] } },
      { type: 'ProductRestocked', data: { sku: LAMP, quantity: 2 } },
      { type: 'StockCommitted', data: order1Reserved.data as never },
      { type: 'StockReleased', data: { orderId: order2, items: [{ sku: MUG, quantity: 4 }] } },
    ];
    for (let cut = 0; cut <= events.length; cut++) {
      const base = events.slice(0, cut).reduce(evolve, initialState);
      const copy = structuredClone(base);
      const rest = events.slice(cut);
      const folded = rest.reduce(evolveInPlace, draftOf(base));
      expect(folded).toEqual(rest.reduce(evolve, base));
      expect(base, `state after ${cut} events`).toEqual(copy);
    }
  });
});
