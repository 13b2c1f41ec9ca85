import { useEffect, useState } from 'react';
import type { OrderSummary } from '../api';
import { useSession } from '../session';
import { useAction, useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { money, shortId } from '../format';
import { Link } from '../router';
import { Empty, PageHeader, ProblemBox, Spinner, StatusBadge, TimeOf } from '../components/ui';
import { OpenById } from '../components/OpenById';
import { ListFilterBar, useListFilters } from '../components/ListFilters';

const statuses = ['pending', 'confirmed', 'rejected', 'cancelled'] as const;
const pageSize = 20;

export function OrdersPage() {
  const { api, session } = useSession();
  const isAdmin = session?.user.role === 'admin';
  // Every filter is applied by the server; admins also search by a customer's email.
  const { filters, setFilters, query, key } = useListFilters();
  const first = useResource(() => api.orders({ ...query, limit: pageSize }), [key]);
  const [more, setMore] = useState<OrderSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  useEffect(() => {
    setMore([]);
    setCursor(first.data?.nextCursor ?? null);
  }, [first.data]);
  const loadMore = useAction(async () => {
    if (!cursor) return;
    const page = await api.orders({ ...query, cursor, limit: pageSize });
    setMore((m) => [...m, ...page.items]);
    setCursor(page.nextCursor);
  });

  // A live change refreshes the first page; rows further down keep their last known status.
  const reload = useThrottled(first.reload, 300);
  useLive(['order', 'saga'], reload);

  const rows = dedupe([...(first.data?.items ?? []), ...more]);
  const filtered = Object.keys(query).length > 0;
  return (
    <div>
      <PageHeader title={isAdmin ? 'All orders' : 'My orders'}>
        {isAdmin ? <OpenById current={undefined} label="Order id" placeholder="order id" basePath="/orders" /> : null}
        {first.loading ? <Spinner label={first.data ? 'Refreshing' : 'Loading orders'} /> : null}
      </PageHeader>
      <ListFilterBar filters={filters} onChange={setFilters} statuses={statuses} showCustomer={isAdmin} testId="orders-filter" timeLabel="Placed" />
      <ProblemBox error={first.error} onRetry={first.reload} />
      {first.data && rows.length === 0 ? (
        <Empty>
          {filtered ? 'No orders match these filters.' : <>No orders yet. <Link to="/shop">Go shopping</Link>.</>}
        </Empty>
      ) : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table className="table" data-testid="orders-table">
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">Status</th>
                {isAdmin ? <th scope="col">Customer</th> : null}
                <th scope="col">Items</th>
                <th scope="col" className="num">
                  Total
                </th>
                <th scope="col">Placed</th>
                <th scope="col">Saga</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((o) => (
                <tr key={o.orderId} data-testid={`order-row-${o.orderId}`}>
                  <td>
                    <Link to={`/orders/${encodeURIComponent(o.orderId)}`} title={o.orderId}>
                      <code>{shortId(o.orderId)}</code>
                    </Link>
                  </td>
                  <td>
                    <StatusBadge status={o.status} testId={`order-status-${o.orderId}`} />
                  </td>
                  {isAdmin ? (
                    <td>
                      {o.customerId ? (
                        <button
                          type="button"
                          className="link-button"
                          title={`only ${o.customerEmail ?? o.customerId}'s orders`}
                          onClick={() => o.customerEmail && setFilters({ ...filters, customer: o.customerEmail })}
                          data-testid={`order-customer-${o.orderId}`}
                        >
                          {o.customerEmail ?? o.customerId}
                        </button>
                      ) : (
                        '–'
                      )}
                    </td>
                  ) : null}
                  <td>{o.items?.map((i) => `${i.quantity}× ${i.name ?? i.sku}`).join(', ') ?? '–'}</td>
                  <td className="num">{money(o.total, o.currency)}</td>
                  <td>
                    <TimeOf at={o.placedAt ?? o.createdAt} />
                  </td>
                  <td>
                    <Link to={`/sagas/${encodeURIComponent(o.orderId)}`}>visualise</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ProblemBox error={loadMore.error} />
      {cursor ? (
        <button type="button" className="button" onClick={() => void loadMore.start()} disabled={loadMore.pending} data-testid="orders-more">
          {loadMore.pending ? 'Loading…' : 'Load more'}
        </button>
      ) : null}
    </div>
  );
}

function dedupe(rows: OrderSummary[]): OrderSummary[] {
  const seen = new Set<string>();
  return rows.filter((r) => (seen.has(r.orderId) ? false : (seen.add(r.orderId), true)));
}
