import { useState, type FormEvent } from 'react';
import type { Product } from '../api';
import { useSession } from '../session';
import { useAction, useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { money } from '../format';
import { Field, PageHeader, ProblemBox, Spinner } from '../components/ui';

export function AdminCatalogPage() {
  const { api } = useSession();
  const products = useResource(() => api.products(), []);
  const reload = useThrottled(products.reload, 300);
  useLive(['stock'], reload);
  return (
    <div>
      <PageHeader title="Catalog admin">{products.loading ? <Spinner label="Loading products" /> : null}</PageHeader>
      <div className="admin-grid">
        <AddProduct onAdded={products.reload} />
        <section className="card" aria-labelledby="stock-title">
          <h2 id="stock-title">Stock</h2>
          <ProblemBox error={products.error} onRetry={products.reload} />
          <div className="table-wrap">
            <table className="table" data-testid="admin-products">
              <thead>
                <tr>
                  <th scope="col">SKU</th>
                  <th scope="col">Name</th>
                  <th scope="col" className="num">
                    Price
                  </th>
                  <th scope="col" className="num">
                    Available
                  </th>
                  <th scope="col" className="num">
                    Reserved
                  </th>
                  <th scope="col">Restock</th>
                </tr>
              </thead>
              <tbody>
                {(products.data?.items ?? []).map((p) => (
                  <ProductRow key={p.sku} product={p} onRestocked={products.reload} />
                ))}
              </tbody>
            </table>
          </div>
        </section>
      </div>
    </div>
  );
}

function ProductRow({ product: p, onRestocked }: { product: Product; onRestocked: () => void }) {
  const { api } = useSession();
  const [qty, setQty] = useState('10');
  const restock = useAction(async () => {
    await api.restock(p.sku, Number(qty));
    onRestocked();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void restock.start();
  };
  return (
    <tr data-testid={`admin-product-${p.sku}`}>
      <td>
        <code>{p.sku}</code>
      </td>
      <td>{p.name}</td>
      <td className="num">{money(p.price, p.currency)}</td>
      <td className="num">{p.available}</td>
      <td className="num">{p.reserved}</td>
      <td>
        <form className="row" onSubmit={submit}>
          <input
            className="qty"
            type="number"
            min={1}
            value={qty}
            onChange={(e) => setQty(e.target.value)}
            aria-label={`Restock quantity for ${p.sku}`}
            aria-invalid={restock.error ? true : undefined}
            data-testid={`restock-qty-${p.sku}`}
          />
          <button type="submit" className="button small" disabled={restock.pending} data-testid={`restock-${p.sku}`}>
            {restock.pending ? 'Adding…' : 'Add'}
          </button>
        </form>
        {restock.error ? (
          <div className="field-error" role="alert">
            {restock.error.issueFor('quantity') ?? restock.error.message}
          </div>
        ) : null}
      </td>
    </tr>
  );
}

function AddProduct({ onAdded }: { onAdded: () => void }) {
  const { api } = useSession();
  const empty = { sku: '', name: '', price: '', currency: 'EUR', stock: '10' };
  const [form, setForm] = useState(empty);
  const [done, setDone] = useState<string | null>(null);
  const add = useAction(async () => {
    await api.addProduct({
      sku: form.sku.trim(),
      name: form.name.trim(),
      // The form takes a decimal price; the API wants minor units.
      price: Math.round(Number(form.price) * 100),
      currency: form.currency.trim().toUpperCase(),
      stock: Number(form.stock),
    });
    return true;
  });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    if (await add.start()) {
      setDone(form.sku);
      setForm(empty);
      onAdded();
    }
  };
  const set = (k: keyof typeof empty) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const err = add.error;
  return (
    <section className="card" aria-labelledby="add-title">
      <h2 id="add-title">Add product</h2>
      <form onSubmit={submit} noValidate data-testid="add-product">
        <Field label="SKU" name="sku" value={form.sku} onChange={set('sku')} placeholder="MUG-002" hint="upper-case letters, digits, dashes" error={err?.issueFor('sku')} />
        <Field label="Name" name="name" value={form.name} onChange={set('name')} error={err?.issueFor('name')} />
        <div className="row">
          <Field label="Price" name="price" type="number" min={0} step="0.01" value={form.price} onChange={set('price')} error={err?.issueFor('price')} />
          <Field label="Currency" name="currency" value={form.currency} onChange={set('currency')} maxLength={3} error={err?.issueFor('currency')} />
        </div>
        <Field label="Initial stock" name="stock" type="number" min={0} value={form.stock} onChange={set('stock')} error={err?.issueFor('stock')} />
        <ProblemBox error={err} fields={['sku', 'name', 'price', 'currency', 'stock']} />
        {done ? (
          <p className="ok" role="status">
            Added <code>{done}</code>.
          </p>
        ) : null}
        <button type="submit" className="button primary" disabled={add.pending} data-testid="add-product-submit">
          {add.pending ? 'Adding…' : 'Add product'}
        </button>
      </form>
    </section>
  );
}
