/** A product's sale data, as the inventory knows it now. */
export interface ProductPrice {
  sku: string;
  name: string;
  /** Minor units. */
  price: number;
  currency: string;
}

/**
 * Prices come from the inventory's state, never from the client. Unknown skus are absent
 * from the returned map.
 */
export type PriceLookup = (skus: readonly string[]) => Promise<Map<string, ProductPrice>>;
