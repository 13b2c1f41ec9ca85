import { useCallback, useEffect, useState } from 'react';

/** The cart: sku -> quantity, kept in localStorage so it survives a reload. */
export type Cart = Record<string, number>;
const storageKey = 'saga.cart';

function read(): Cart {
  try {
    const c = JSON.parse(localStorage.getItem(storageKey) ?? '{}') as unknown;
    if (!c || typeof c !== 'object') return {};
    return Object.fromEntries(Object.entries(c).filter(([, q]) => Number.isInteger(q) && (q as number) > 0)) as Cart;
  } catch {
    return {};
  }
}

export function useCart() {
  const [cart, setCart] = useState<Cart>(read);
  useEffect(() => {
    localStorage.setItem(storageKey, JSON.stringify(cart));
  }, [cart]);
  const setQuantity = useCallback((sku: string, quantity: number) => {
    setCart((c) => {
      const next = { ...c };
      if (quantity > 0) next[sku] = Math.min(10_000, Math.floor(quantity));
      else delete next[sku];
      return next;
    });
  }, []);
  const add = useCallback((sku: string) => setCart((c) => ({ ...c, [sku]: Math.min(10_000, (c[sku] ?? 0) + 1) })), []);
  const clear = useCallback(() => setCart({}), []);
  return { cart, setQuantity, add, clear };
}
