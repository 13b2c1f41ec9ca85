import type { EventType } from '@saga/event-schemas/catalog';
import type { LineItem } from '@saga/event-schemas/ids';
import type { Collection, DocumentStore } from '@saga/platform/document-store/port';
import { publicView, type ProjectedDoc, type Projection } from './projection';

/**
 * The catalog with live stock, from the warehouse stream. For every product
 * `stock + restocked - sold = available + reserved` holds, as it does in the aggregate.
 */
export interface ProductDoc extends ProjectedDoc {
  sku: string;
  name: string;
  price: number;
  currency: string;
  available: number;
  reserved: number;
  sold: number;
  restocked: number;
  initialStock: number;
}

const eventTypes = [
  'ProductAdded',
  'ProductRestocked',
  'StockReserved',
  'StockReleased',
  'StockCommitted',
] as const satisfies readonly EventType[];

const quantityOf = (items: LineItem[], sku: string) => items.filter((i) => i.sku === sku).reduce((n, i) => n + i.quantity, 0);

export const productsProjection: Projection<ProductDoc> = {
  name: 'products',
  collection: { name: 'products', indexes: ['name'] },
  eventTypes,
  docIds: (event) => {
    switch (event.type) {
      case 'ProductAdded':
      case 'ProductRestocked':
        return [event.data.sku];
      case 'StockReserved':
      case 'StockReleased':
      case 'StockCommitted':
        return [...new Set(event.data.items.map((i) => i.sku as string))];
      default:
        return [];
    }
  },
  evolve: (doc, event, sku) => {
    if (event.type === 'ProductAdded') {
      const d = event.data;
      return {
        id: sku,
        sku,
        name: d.name,
        price: d.price,
        currency: d.currency,
        available: d.stock,
        reserved: 0,
        sold: 0,
        restocked: 0,
        initialStock: d.stock,
        _applied: doc?._applied ?? [],
      };
    }
    // The warehouse stream is one ordered stream, so a product always exists before it moves.
    if (!doc) return null;
    switch (event.type) {
      case 'ProductRestocked':
        return { ...doc, available: doc.available + event.data.quantity, restocked: doc.restocked + event.data.quantity };
      case 'StockReserved': {
        const q = quantityOf(event.data.items, sku);
        return { ...doc, available: doc.available - q, reserved: doc.reserved + q };
      }
      case 'StockReleased': {
        const q = quantityOf(event.data.items, sku);
        return { ...doc, available: doc.available + q, reserved: doc.reserved - q };
      }
      case 'StockCommitted': {
        const q = quantityOf(event.data.items, sku);
        return { ...doc, reserved: doc.reserved - q, sold: doc.sold + q };
      }
      default:
        return doc;
    }
  },
};

export interface ProductView {
  sku: string;
  name: string;
  price: number;
  currency: string;
  available: number;
  reserved: number;
  sold: number;
}

const toView = (doc: ProductDoc): ProductView => {
  const { sku, name, price, currency, available, reserved, sold } = publicView(doc);
  return { sku, name, price, currency, available, reserved, sold };
};

export async function openProductQueries(store: DocumentStore) {
  const products: Collection<ProductDoc> = await store.collection<ProductDoc>(productsProjection.collection);
  return {
    /** The whole catalog, by sku; it is small, but bounded all the same. */
    async list(limit = 1000): Promise<ProductView[]> {
      const page = await products.find({ limit });
      return page.items.map(toView);
    },
    async get(sku: string): Promise<ProductView | null> {
      const doc = await products.get(sku);
      return doc ? toView(doc) : null;
    },
  };
}
export type ProductQueries = Awaited<ReturnType<typeof openProductQueries>>;
