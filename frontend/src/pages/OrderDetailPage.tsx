import type { LiveMessage } from '../live';
import { useEffect, useState } from 'react';
import { useLive, useLiveState } from '../live';
import { useSession } from '../session';
import { useAction, useResource, useThrottled } from '../hooks';
import { clockTime, duration, money } from '../format';
import { Link } from '../router';
import { inputType } from '../saga/instance';
import { Empty, PageHeader, ProblemBox, Spinner, StatusBadge, TimeOf } from '../components/ui';
import type { OrderDetail, SagaInstance, TimelineEntry } from '../api';

/** True when a live message is about this order (its body names the order or the stream). */
export function concernsOrder(msg: LiveMessage, orderId: string): boolean {
  const d = msg.data;
  if (!d || typeof d !== 'object') return true;
  const o = d as Record<string, unknown>;
  const meta = o.metadata as Record<string, unknown> | undefined;
  const ids = [o.orderId, o.correlationId, meta?.correlationId, (o.data as Record<string, unknown> | undefined)?.orderId];
  if (ids.some((v) => typeof v === 'string')) return ids.includes(orderId);
  return typeof o.streamId === 'string' ? o.streamId.endsWith(orderId) : true;
}

export function OrderDetailPage({ orderId }: { orderId: string }) {
  const { api } = useSession();
  const order = useResource(() => api.order(orderId), [orderId]);
  const saga = useResource(() => api.saga(orderId), [orderId]);
  const reloadOrder = useThrottled(order.reload, 200);
  const reloadSaga = useThrottled(saga.reload, 200);
  useLive(['order', 'saga'], (msg) => {
    if (!concernsOrder(msg, orderId)) return;
    reloadOrder();
    reloadSaga();
  });
  const cancel = useAction(async () => {
    await api.cancelOrder(orderId);
    reloadOrder();
    reloadSaga();
  });

  // Just after checkout the read model may not have the order yet (the API answers 202 before
  // the projectors run; the order read waits a while for it, then answers 503): a 404 or 503 in
  // the first seconds means "not yet", so keep asking.
  const [mountedAt] = useState(() => Date.now());
  const young = Date.now() - mountedAt < 15_000;
  const notYet = (e: typeof order.error) => (e?.status === 404 || e?.status === 503) && young;
  useEffect(() => {
    if (!notYet(order.error) && !notYet(saga.error)) return;
    const t = setTimeout(() => {
      if (notYet(order.error)) order.reload();
      if (notYet(saga.error)) saga.reload();
    }, 400);
    return () => clearTimeout(t);
  });

  const o = order.data;
  const ended = o ? o.status !== 'pending' : false;
  // Without the live stream (a proxy that buffers SSE, say), a pending order still moves on.
  const liveState = useLiveState();
  useEffect(() => {
    if (ended || liveState === 'open') return;
    const t = setInterval(() => {
      reloadOrder();
      reloadSaga();
    }, 3000);
    return () => clearInterval(t);
  }, [ended, liveState, reloadOrder, reloadSaga]);
  return (
    <div>
      <PageHeader title="Order">
        <Link to="/orders">← all orders</Link>
      </PageHeader>
      <p className="muted">
        <code data-testid="order-id">{orderId}</code>
      </p>
      {notYet(order.error) ? <Spinner label="Waiting for the order to reach the read model" /> : <ProblemBox error={order.error} onRetry={order.reload} />}
      {order.loading && !o && !order.error ? <Spinner label="Loading order" /> : null}
      {o ? (
        <div className="detail-grid">
          <section className="card" aria-labelledby="order-summary">
            <h2 id="order-summary">
              Status <StatusBadge status={o.status} testId="order-status" />
              {o.status === 'pending' ? <Spinner label="the saga is running" /> : null}
            </h2>
            {o.reason ? (
              <p className="reason" data-testid="order-reason">
                {o.reason}
              </p>
            ) : null}
            <OrderLines order={o} />
            <dl className="facts">
              <dt>Placed</dt>
              <dd>
                <TimeOf at={o.placedAt ?? o.createdAt} />
              </dd>
              {o.customerEmail ? (
                <>
                  <dt>Customer</dt>
                  <dd>{o.customerEmail}</dd>
                </>
              ) : null}
              <SubState label="Stock" value={o.stock} />
              <SubState label="Payment" value={o.payment} currency={o.currency} />
              <SubState label="Email" value={o.email} />
            </dl>
            <div className="actions">
              <button
                type="button"
                className="button danger"
                onClick={() => void cancel.start()}
                disabled={cancel.pending || ended}
                title={ended ? 'The order has ended' : 'Ask the saga to undo what it did and cancel'}
                data-testid="cancel-order"
              >
                {cancel.pending ? 'Cancelling…' : 'Cancel order'}
              </button>
              <Link to={`/sagas/${encodeURIComponent(orderId)}`} className="button" data-testid="open-saga">
                Open in saga visualiser
              </Link>
              <Link to={`/events/${encodeURIComponent(`order-${orderId}`)}`} className="button">
                Order stream
              </Link>
            </div>
            <ProblemBox error={cancel.error} />
          </section>
          <section className="card" aria-labelledby="order-timeline">
            <h2 id="order-timeline">Timeline</h2>
            <Timeline order={o} saga={saga.data} />
          </section>
          <section className="card span-2" aria-labelledby="order-saga">
            <h2 id="order-saga">Saga</h2>
            {notYet(saga.error) ? <Spinner label="Waiting for the saga to start" /> : <ProblemBox error={saga.error} onRetry={saga.reload} />}
            {saga.data ? <SagaSteps saga={saga.data} /> : saga.loading && !saga.error ? <Spinner label="Loading saga" /> : null}
          </section>
        </div>
      ) : null}
    </div>
  );
}

function OrderLines({ order }: { order: OrderDetail }) {
  const items = order.items ?? [];
  if (items.length === 0) return null;
  return (
    <table className="table compact" data-testid="order-items">
      <thead>
        <tr>
          <th scope="col">Item</th>
          <th scope="col" className="num">
            Qty
          </th>
          <th scope="col" className="num">
            Unit
          </th>
          <th scope="col" className="num">
            Line
          </th>
        </tr>
      </thead>
      <tbody>
        {items.map((i) => (
          <tr key={i.sku}>
            <td>
              {i.name ?? i.sku} <code className="muted">{i.sku}</code>
            </td>
            <td className="num">{i.quantity}</td>
            <td className="num">{money(i.unitPrice, order.currency)}</td>
            <td className="num">{i.unitPrice === undefined ? '–' : money(i.unitPrice * i.quantity, order.currency)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row" colSpan={3}>
            Total
          </th>
          <td className="num" data-testid="order-total">
            {money(order.total, order.currency)}
          </td>
        </tr>
      </tfoot>
    </table>
  );
}

/** A read-model sub-state such as `{status: 'captured', amount: 1200}`, shown compactly. */
function SubState({ label, value, currency }: { label: string; value: Record<string, unknown> | undefined; currency?: string | null }) {
  if (!value) return null;
  const status = typeof value.status === 'string' ? value.status : undefined;
  // Ids and empty fields are noise here; amounts and reasons are what a reader wants.
  const rest = Object.entries(value).filter(([k, v]) => k !== 'status' && !/Id$/.test(k) && v !== null && v !== 0 && !(Array.isArray(v) && v.length === 0));
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={`order-${label.toLowerCase()}`}>
        {status ? <StatusBadge status={status} /> : null}{' '}
        {rest.map(([k, v]) => (
          <span key={k} className="kv">
            {k}: {typeof v === 'number' && /amount|total|captured|refunded/i.test(k) ? money(v, currency) : typeof v === 'object' ? JSON.stringify(v) : String(v)}
          </span>
        ))}
      </dd>
    </>
  );
}

/** "PaymentCaptured" -> "Payment captured". */
const words = (type: string) => type.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase()).replace(/ ([A-Z])/g, (_m, c: string) => ` ${c.toLowerCase()}`);

/**
 * One readable line per event. A saga step says where it went and why, from the saga's own
 * history (its entry k is the saga stream's revision k): "Saga: chargingPayment → releasingStock, on PaymentDeclined".
 */
export function timelineSummary(t: TimelineEntry, saga: SagaInstance | undefined): string {
  if (t.streamId?.startsWith('saga-') && t.revision !== undefined) {
    const h = saga?.history?.[t.revision];
    if (t.type === 'SagaStarted') return `Saga started in ${h?.to ?? 'its first step'}`;
    if (t.type === 'SagaEnded') return `Saga ended: ${saga?.status ?? 'done'}${saga?.flags?.length ? ` (flags: ${saga.flags.join(', ')})` : ''}`;
    if (t.type === 'SagaTransitioned' && h) {
      const input = inputType(h.input);
      return h.from === h.to ? `Saga stayed in ${h.to} on ${input}` : `Saga: ${h.from} → ${h.to}, on ${words(input).toLowerCase()}`;
    }
  }
  return words(t.type);
}

function Timeline({ order, saga }: { order: OrderDetail; saga: SagaInstance | undefined }) {
  const entries = order.timeline ?? [];
  if (entries.length === 0) return <Empty>No events yet.</Empty>;
  return (
    <ol className="timeline" data-testid="order-timeline">
      {entries.map((t, i) => (
        <li key={i}>
          <time dateTime={t.at} title={t.at}>
            {clockTime(t.at)}
          </time>
          <span className="timeline-type" title={t.type}>
            {timelineSummary(t, saga)}
          </span>
          {t.detail ? <span className="muted"> {t.detail}</span> : null}
          {t.streamId ? (
            <Link to={`/events/${encodeURIComponent(t.streamId)}`} className="muted small" title={t.streamId}>
              {/* The order id is on the page already; the category says which aggregate. */}
              {t.streamId.split('-')[0]}
              {t.revision !== undefined ? ` r${t.revision}` : ''}
            </Link>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

function SagaSteps({ saga }: { saga: SagaInstance }) {
  const history = saga.history ?? [];
  return (
    <div data-testid="order-saga">
      <p>
        State <code data-testid="saga-state">{saga.state}</code> · <StatusBadge status={saga.status} testId="saga-status" />
        {saga.flags?.length ? <span className="muted"> · flags: {saga.flags.join(', ')}</span> : null}
      </p>
      {history.length === 0 ? (
        <Empty>No steps yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="table compact">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Input</th>
                <th scope="col">From → to</th>
                <th scope="col">At</th>
                <th scope="col" className="num">
                  Took
                </th>
              </tr>
            </thead>
            <tbody>
              {history.map((h, i) => {
                const prev = i > 0 ? history[i - 1] : undefined;
                return (
                  <tr key={i}>
                    <td>{i + 1}</td>
                    <td>
                      <code>{inputType(h.input)}</code>
                    </td>
                    <td>
                      {h.from === null ? 'start' : h.from} → <strong>{h.to}</strong>
                    </td>
                    <td>{clockTime(h.at)}</td>
                    <td className="num">{prev ? duration(Date.parse(h.at) - Date.parse(prev.at)) : '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
