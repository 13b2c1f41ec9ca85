import type { AddProductRequest } from '@saga/event-schemas/inventory';
import type { Actor } from './shared/actor';
import type { PriceLookup } from './shared/price-lookup';
import type { NewUser, UserStore } from './users/user-store';

/** Demo accounts and catalog for a fresh embedded install (the composition root decides when to seed). */
export const DEMO_USERS: readonly NewUser[] = [
  { email: 'alice@example.com', password: 'alice-password', name: 'Alice', role: 'customer' },
  { email: 'admin@example.com', password: 'admin-password', name: 'Admin', role: 'admin' },
];

export const DEMO_CATALOG: readonly AddProductRequest[] = [
  { sku: 'MUG-001', name: 'Event-sourced coffee mug', price: 1250, currency: 'EUR', stock: 100 },
  { sku: 'TEE-001', name: 'Saga pattern T-shirt', price: 2400, currency: 'EUR', stock: 50 },
  { sku: 'STICKER-001', name: 'CQRS sticker pack', price: 450, currency: 'EUR', stock: 500 },
  { sku: 'BOOK-001', name: 'Notebook of domain events', price: 1800, currency: 'EUR', stock: 30 },
  { sku: 'HOODIE-001', name: 'Compensating-action hoodie', price: 5900, currency: 'EUR', stock: 10 },
  { sku: 'LAMP-001', name: 'Idempotent desk lamp', price: 3500, currency: 'EUR', stock: 3 },
] as AddProductRequest[];

export interface SeedDeps {
  users: Pick<UserStore, 'register' | 'findByEmail'>;
  inventory: {
    addProduct(input: AddProductRequest & { actor: Actor }): Promise<unknown>;
    priceLookup: PriceLookup;
  };
}

export interface SeedResult {
  usersCreated: string[];
  productsAdded: string[];
}

const SEEDER: Actor = { userId: 'seed', role: 'service' };

/**
 * Creates what is missing and touches nothing that exists, so a second run (every restart)
 * changes nothing, and a product an admin already restocked keeps its stock.
 */
export async function seedDemo(deps: SeedDeps): Promise<SeedResult> {
  const usersCreated: string[] = [];
  for (const user of DEMO_USERS) {
    if (await deps.users.findByEmail(user.email)) continue;
    await deps.users.register(user);
    usersCreated.push(user.email);
  }
  const known = await deps.inventory.priceLookup(DEMO_CATALOG.map((p) => p.sku));
  const productsAdded: string[] = [];
  for (const product of DEMO_CATALOG) {
    if (known.has(product.sku)) continue;
    await deps.inventory.addProduct({ ...product, actor: SEEDER });
    productsAdded.push(product.sku);
  }
  return { usersCreated, productsAdded };
}
