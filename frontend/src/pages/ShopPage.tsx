import { useMemo, useRef, useState, type FormEvent } from 'react';
import { newIdempotencyKey, type Product } from '../api';
import { useSession } from '../session';
import { useAction, useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { useCart } from '../cart';
import { money } from '../format';
import { navigate } from '../router';
import { testCards, groupCard } from '../testCards';
import { Empty, PageHeader, ProblemBox, Spinner } from '../components/ui';

export function ShopPage() {
  const { api } = useSession();
  const products = useResource(() => api.products(), []);
  const reload = useThrottled(products.reload, 300);
  // Stock moves whenever any order reserves, releases or a product is restocked.
  useLive(['stock'], reload);
  const { cart, setQuantity, add, clear } = useCart();
  const items = products.data?.items ?? [];

  return (
    <div className="shop">
      <section className="shop-catalog" aria-labelledby="catalog-title">
        <PageHeader title="Shop">
          {products.loading && products.data ? <Spinner label="Refreshing" /> : null}
        </PageHeader>
        <h2 id="catalog-title" className="visually-hidden">
          Catalog
        </h2>
        <ProblemBox error={products.error} onRetry={products.reload} />
        {products.loading && !products.data ? <Spinner label="Loading catalog" /> : null}
        {products.data && items.length === 0 ? <Empty>No products yet. An admin can add some in Catalog admin.</Empty> : null}
        <ul className="product-grid" data-testid="catalog">
          {items.map((p) => (
            <ProductCard key={p.sku} product={p} inCart={cart[p.sku] ?? 0} onAdd={() => add(p.sku)} />
          ))}
        </ul>
      </section>
      <aside className="shop-cart" aria-labelledby="cart-title">
        <Checkout products={items} cart={cart} setQuantity={setQuantity} clear={clear} />
      </aside>
    </div>
  );
}

function ProductCard({ product: p, inCart, onAdd }: { product: Product; inCart: number; onAdd: () => void }) {
  const out = p.available <= 0;
  return (
    <li className="card product" data-testid={`product-${p.sku}`}>
      <div className="product-name">{p.name}</div>
      <div className="product-sku">
        <code>{p.sku}</code>
      </div>
      <div className="product-price">{money(p.price, p.currency)}</div>
      <div className="product-stock">
        <span className={out ? 'stock out' : 'stock'} data-testid={`stock-${p.sku}`} data-available={p.available}>
          {out ? 'Out of stock' : `${p.available} available`}
        </span>
        {p.reserved > 0 ? <span className="muted"> · {p.reserved} reserved</span> : null}
      </div>
      <button type="button" className="button" onClick={onAdd} data-testid={`add-${p.sku}`} aria-label={`Add ${p.name} to cart`}>
        Add to cart{inCart ? ` (${inCart})` : ''}
      </button>
    </li>
  );
}

function Checkout({
  products,
  cart,
  setQuantity,
  clear,
}: {
  products: Product[];
  cart: Record<string, number>;
  setQuantity: (sku: string, q: number) => void;
  clear: () => void;
}) {
  const { api } = useSession();
  const [card, setCard] = useState<string>(testCards[0].number);
  const [customCard, setCustomCard] = useState('');
  const useCustom = card === 'custom';
  const cardNumber = useCustom ? customCard : card;

  // One key per checkout attempt: a retry after a network error resends the same key, so the
  // server answers with the first order instead of placing a second one.
  const attempt = useRef<{ key: string; body: string } | null>(null);
  const place = useAction((lines: { sku: string; quantity: number }[], cardNo: string) => {
    const body = JSON.stringify([lines, cardNo]);
    if (!attempt.current || attempt.current.body !== body) attempt.current = { key: newIdempotencyKey(), body };
    return api.placeOrder(lines, cardNo, attempt.current.key);
  });

  const bySku = useMemo(() => new Map(products.map((p) => [p.sku, p])), [products]);
  const lines = Object.entries(cart).map(([sku, quantity]) => ({ sku, quantity, product: bySku.get(sku) }));
  // One currency per order (the server refuses a mix too): a total across currencies means nothing.
  const currencies = [...new Set(lines.flatMap((l) => (l.product ? [l.product.currency] : [])))];
  const mixed = currencies.length > 1;
  const currency = currencies[0] ?? 'USD';
  const total = lines.reduce((sum, l) => sum + (l.product ? l.product.price * l.quantity : 0), 0);
  const totalsByCurrency = currencies.map((c) => ({
    currency: c,
    total: lines.reduce((sum, l) => sum + (l.product?.currency === c ? l.product.price * l.quantity : 0), 0),
  }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const result = await place.start(
      lines.map(({ sku, quantity }) => ({ sku, quantity })),
      cardNumber.replace(/[\s-]/g, ''),
    );
    if (result) {
      attempt.current = null;
      clear();
      navigate(`/orders/${encodeURIComponent(result.orderId)}`);
    }
  };

  const err = place.error;
  return (
    <form className="card checkout" onSubmit={submit} data-testid="checkout" noValidate>
      <h2 id="cart-title">Cart</h2>
      {lines.length === 0 ? <Empty>Your cart is empty.</Empty> : null}
      {lines.length > 0 ? (
        <table className="cart-table">
          <thead>
            <tr>
              <th scope="col">Item</th>
              <th scope="col">Qty</th>
              <th scope="col" className="num">
                Price
              </th>
              <th scope="col">
                <span className="visually-hidden">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {lines.map((l) => (
              <tr key={l.sku} data-testid={`cart-line-${l.sku}`}>
                <td>
                  {l.product?.name ?? l.sku}
                  {l.product && l.quantity > l.product.available ? (
                    <div className="warn">only {l.product.available} available</div>
                  ) : null}
                  {!l.product && products.length > 0 ? <div className="warn">no longer in the catalog</div> : null}
                </td>
                <td>
                  <input
                    className="qty"
                    type="number"
                    min={0}
                    max={10000}
                    value={l.quantity}
                    aria-label={`Quantity of ${l.product?.name ?? l.sku}`}
                    onChange={(e) => setQuantity(l.sku, Number(e.target.value))}
                    data-testid={`qty-${l.sku}`}
                  />
                </td>
                <td className="num">{l.product ? money(l.product.price * l.quantity, l.product.currency) : '–'}</td>
                <td>
                  <button type="button" className="icon-button" aria-label={`Remove ${l.sku}`} onClick={() => setQuantity(l.sku, 0)}>
                    ×
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colSpan={2}>
                Total
              </th>
              <td className="num" data-testid="cart-total" data-mixed={mixed}>
                {mixed ? totalsByCurrency.map((t) => <div key={t.currency}>{money(t.total, t.currency)}</div>) : money(total, currency)}
              </td>
              <td />
            </tr>
          </tfoot>
        </table>
      ) : null}
      {mixed ? (
        <div className="field-error" role="alert" data-testid="mixed-currencies">
          An order is paid in one currency. Your cart has items in {currencies.join(' and ')}: remove the items in one of them, or place
          two orders.
        </div>
      ) : err?.issueFor('items') ? (
        <div className="field-error">{err.issueFor('items')}</div>
      ) : null}

      <fieldset className="card-picker" data-testid="card-picker">
        <legend>Test card</legend>
        {testCards.map((c) => (
          <label key={c.number} className="radio">
            <input type="radio" name="card" value={c.number} checked={card === c.number} onChange={() => setCard(c.number)} data-testid={`card-${c.outcome}`} />
            <span>
              <code>{groupCard(c.number)}</code> <span className="muted">{c.label}</span>
            </span>
          </label>
        ))}
        <label className="radio">
          <input type="radio" name="card" value="custom" checked={useCustom} onChange={() => setCard('custom')} />
          <span>Another number</span>
        </label>
        {useCustom ? (
          <input
            className="text"
            inputMode="numeric"
            autoComplete="cc-number"
            aria-label="Card number"
            placeholder="Card number"
            value={customCard}
            onChange={(e) => setCustomCard(e.target.value)}
          />
        ) : null}
        {err?.issueFor('payment') ? (
          <div className="field-error" data-testid="field-error-card">
            {err.issueFor('payment')}
          </div>
        ) : null}
      </fieldset>

      <ProblemBox error={err} fields={['items', 'payment']} />
      <button type="submit" className="button primary wide" disabled={place.pending || lines.length === 0 || mixed} data-testid="place-order">
        {place.pending ? <span className="spinner-ring small" aria-hidden="true" /> : null}
        {place.pending ? 'Placing order…' : 'Place order'}
      </button>
    </form>
  );
}
