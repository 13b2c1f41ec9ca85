import type { EventType } from '@saga/event-schemas/catalog';
import type { SagaStatus } from '@saga/event-schemas/saga';
import type { DocumentStore, Document } from '@saga/platform/document-store/port';
import type { OrderStatus } from './orders';
import { publicView, type ProjectedDoc, type Projection } from './projection';

/**
 * System-wide figures: orders by status, money captured, refunded and confirmed, saga
 * outcomes and durations. Each order keeps its own small "figures" document (deduplicated
 * like any projected document); the totals document is the running sum of all figures,
 * moved by each figure's difference, so it is exact in any delivery order and a
 * redelivered event, which changes no figure, changes no total.
 *
 * Invariant it lets anyone check: capturedTotal - refundedTotal = confirmedTotal.
 */
export interface OrderFiguresDoc extends ProjectedDoc {
  orderId: string;
  /** Null until OrderPlaced is applied. */
  status: OrderStatus | null;
  total: number;
  currency: string | null;
  captured: number;
  refunded: number;
  paymentCurrency: string | null;
  saga: SagaStatus | null;
  sagaDurationMs: number | null;
  flagged: boolean;
}

export interface Money {
  captured: number;
  refunded: number;
  confirmed: number;
}

export interface StatsDoc extends Document {
  orders: Record<OrderStatus, number> & { total: number };
  capturedTotal: number;
  refundedTotal: number;
  confirmedTotal: number;
  byCurrency: Record<string, Money>;
  sagas: Record<SagaStatus, number> & { total: number; flagged: number };
  sagaDurations: Record<Exclude<SagaStatus, 'running'>, { count: number; totalMs: number; averageMs: number | null }>;
}

export const STATS_ID = 'totals';

const eventTypes = [
  'OrderPlaced',
  'OrderConfirmed',
  'OrderRejected',
  'OrderCancelled',
  'PaymentCaptured',
  'PaymentRefunded',
  'SagaStarted',
  'SagaEnded',
] as const satisfies readonly EventType[];

const figuresId = (orderId: string) => `order:${orderId}`;

function emptyFigures(id: string): OrderFiguresDoc {
  return {
    id,
    orderId: id.slice('order:'.length),
    status: null,
    total: 0,
    currency: null,
    captured: 0,
    refunded: 0,
    paymentCurrency: null,
    saga: null,
    sagaDurationMs: null,
    flagged: false,
    _applied: [],
  };
}

const emptyDuration = () => ({ count: 0, totalMs: 0, averageMs: null });

export function emptyStats(): StatsDoc {
  return {
    id: STATS_ID,
    orders: { total: 0, pending: 0, confirmed: 0, rejected: 0, cancelled: 0 },
    capturedTotal: 0,
    refundedTotal: 0,
    confirmedTotal: 0,
    byCurrency: {},
    sagas: { total: 0, running: 0, completed: 0, rejected: 0, cancelled: 0, flagged: 0 },
    sagaDurations: { completed: emptyDuration(), rejected: emptyDuration(), cancelled: emptyDuration() },
  };
}

function addMoney(byCurrency: Record<string, Money>, currency: string | null, delta: Money): Record<string, Money> {
  if (currency === null || (delta.captured === 0 && delta.refunded === 0 && delta.confirmed === 0)) return byCurrency;
  const was = byCurrency[currency] ?? { captured: 0, refunded: 0, confirmed: 0 };
  const now = { captured: was.captured + delta.captured, refunded: was.refunded + delta.refunded, confirmed: was.confirmed + delta.confirmed };
  const out = { ...byCurrency };
  // A currency whose figures are all back to zero is dropped, so the keys never depend on delivery order.
  if (now.captured === 0 && now.refunded === 0 && now.confirmed === 0) delete out[currency];
  else out[currency] = now;
  return out;
}

function addFigures(stats: StatsDoc, f: OrderFiguresDoc, sign: 1 | -1): StatsDoc {
  const confirmed = f.status === 'confirmed' ? f.total : 0;
  const orders = { ...stats.orders };
  if (f.status !== null) {
    orders[f.status] += sign;
    orders.total += sign;
  }
  const sagas = { ...stats.sagas };
  const sagaDurations = { ...stats.sagaDurations };
  if (f.saga !== null) {
    sagas[f.saga] += sign;
    sagas.total += sign;
    if (f.flagged) sagas.flagged += sign;
    if (f.saga !== 'running' && f.sagaDurationMs !== null) {
      const was = sagaDurations[f.saga];
      const count = was.count + sign;
      const totalMs = was.totalMs + sign * f.sagaDurationMs;
      sagaDurations[f.saga] = { count, totalMs, averageMs: count > 0 ? Math.round(totalMs / count) : null };
    }
  }
  let byCurrency = addMoney(stats.byCurrency, f.paymentCurrency, { captured: sign * f.captured, refunded: sign * f.refunded, confirmed: 0 });
  byCurrency = addMoney(byCurrency, f.currency, { captured: 0, refunded: 0, confirmed: sign * confirmed });
  return {
    ...stats,
    orders,
    capturedTotal: stats.capturedTotal + sign * f.captured,
    refundedTotal: stats.refundedTotal + sign * f.refunded,
    confirmedTotal: stats.confirmedTotal + sign * confirmed,
    byCurrency,
    sagas,
    sagaDurations,
  };
}

export const statsProjection: Projection<OrderFiguresDoc, StatsDoc> = {
  name: 'stats',
  collection: { name: 'stats', indexes: ['status'] },
  eventTypes,
  docIds: (event) => ('orderId' in event.data && typeof event.data.orderId === 'string' ? [figuresId(event.data.orderId)] : []),
  evolve: (doc, event, id) => {
    const f = doc ?? emptyFigures(id);
    switch (event.type) {
      case 'OrderPlaced':
        return { ...f, status: 'pending', total: event.data.total, currency: event.data.currency };
      case 'OrderConfirmed':
        return { ...f, status: 'confirmed' };
      case 'OrderRejected':
        return { ...f, status: 'rejected' };
      case 'OrderCancelled':
        return { ...f, status: 'cancelled' };
      case 'PaymentCaptured':
        return { ...f, captured: f.captured + event.data.amount, paymentCurrency: event.data.currency };
      case 'PaymentRefunded':
        return { ...f, refunded: f.refunded + event.data.amount, paymentCurrency: event.data.currency };
      case 'SagaStarted':
        return { ...f, saga: 'running' };
      case 'SagaEnded':
        return {
          ...f,
          saga: event.data.status,
          sagaDurationMs: event.data.durationMs,
          flagged: event.data.flags.length > 0,
        };
      default:
        return f;
    }
  },
  summary: { id: STATS_ID, initial: emptyStats, add: addFigures },
};

export type StatsView = Omit<StatsDoc, 'id'>;

export async function openStatsQueries(store: DocumentStore) {
  const stats = await store.collection<StatsDoc>(statsProjection.collection);
  return {
    async get(): Promise<StatsView> {
      const { id: _id, ...rest } = publicView((await stats.get(STATS_ID)) ?? emptyStats()) as StatsDoc;
      return rest;
    },
  };
}
export type StatsQueries = Awaited<ReturnType<typeof openStatsQueries>>;
