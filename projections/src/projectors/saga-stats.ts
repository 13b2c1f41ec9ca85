import type { EventType } from '@saga/event-schemas/catalog';
import type { SagaStatus } from '@saga/event-schemas/saga';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import type { Collection, DocumentStore, Document, Filter } from '@saga/platform/document-store/port';
import type { ProjectedDoc, Projection } from './projection';

/**
 * Exact counts across every saga instance, for the statechart's heatmap: how many instances
 * are in each state now, how often each transition was taken, and which instances sit in a
 * state. Each saga keeps a small document (its current state and the transitions it took);
 * the totals document is their running sum, moved by each document's difference like the
 * stats projection's, so it is exact in any delivery order and unmoved by a redelivery.
 */
export interface SagaPositionDoc extends ProjectedDoc {
  orderId: string;
  /** The definition version the saga runs now (a migration moves its counts to the new version). */
  version: number;
  /** The customer's email, for searching instances. */
  customer: string;
  state: string;
  status: SagaStatus;
  startedAt: string;
  /** When it entered its current state. */
  since: string;
  /** `from->to` -> times this instance took it. */
  transitions: Record<string, number>;
}

/** One instance's use of one transition (`from->to`), for listing the instances of an edge. */
export interface SagaEdgeDoc extends ProjectedDoc {
  orderId: string;
  edge: string;
  version: number;
  customer: string;
  /** When the instance first took it, and how often. */
  at: string;
  count: number;
}

export interface SagaCounts {
  total: number;
  states: Record<string, number>;
  transitions: Record<string, number>;
}

export interface SagaStatsDoc extends Document, SagaCounts {
  /** The same counts per definition version (`"1"`, `"2"`...). */
  versions: Record<string, SagaCounts>;
}

export const SAGA_STATS_ID = 'totals';

const eventTypes = ['SagaStarted', 'SagaTransitioned', 'SagaEnded', 'SagaMigrated'] as const satisfies readonly EventType[];

export const transitionKey = (from: string, to: string) => `${from}->${to}`;
const edgeDocId = (orderId: string, edge: string) => `${orderId}|${edge}`;

export const emptyCounts = (): SagaCounts => ({ total: 0, states: {}, transitions: {} });
export const emptySagaStats = (): SagaStatsDoc => ({ id: SAGA_STATS_ID, ...emptyCounts(), versions: {} });

/** Moves a count of `counts`, which the caller owns (a copy): a key back at zero is dropped, so the keys never depend on delivery order. */
function move(counts: Record<string, number>, key: string, delta: number): void {
  const now = (counts[key] ?? 0) + delta;
  if (now === 0) delete counts[key];
  else counts[key] = now;
}

/** A count moved by `delta`, in a new object. */
function bump(counts: Record<string, number>, key: string, delta: number): Record<string, number> {
  const out = { ...counts };
  move(out, key, delta);
  return out;
}

/** One copy of each map per document added, however many transitions it took (the totals run on every batch). */
function addTo(counts: SagaCounts, doc: SagaPositionDoc, sign: 1 | -1): SagaCounts {
  const transitions = { ...counts.transitions };
  for (const key in doc.transitions) move(transitions, key, sign * doc.transitions[key]!);
  return { total: counts.total + sign, states: bump(counts.states, doc.state, sign), transitions };
}

function addPosition(stats: SagaStatsDoc, doc: SagaPositionDoc | SagaEdgeDoc, sign: 1 | -1): SagaStatsDoc {
  // Edge documents list instances; the counts come from the position documents alone.
  if ('edge' in doc) return stats;
  const key = String(doc.version ?? 1);
  const { versions = {} } = stats;
  const version = addTo(versions[key] ?? emptyCounts(), doc, sign);
  const { [key]: _was, ...others } = versions;
  return { ...stats, ...addTo(stats, doc, sign), versions: version.total === 0 ? others : { ...others, [key]: version } };
}

const customerOf = (context: Record<string, unknown>) => (typeof context.customerEmail === 'string' ? context.customerEmail : '');

export const sagaStatsProjection: Projection<SagaPositionDoc | SagaEdgeDoc, SagaStatsDoc> = {
  name: 'sagastats',
  collection: {
    name: 'sagastats',
    indexes: ['state', 'since', 'edge', 'at', 'orderId', 'customer', 'version'],
    compound: [
      ['state', 'since'],
      ['edge', 'at'],
    ],
  },
  eventTypes,
  docIds: (event) => {
    switch (event.type) {
      case 'SagaTransitioned':
        return [event.data.orderId, edgeDocId(event.data.orderId, transitionKey(event.data.from, event.data.to))];
      case 'SagaStarted':
      case 'SagaEnded':
      case 'SagaMigrated':
        return [event.data.orderId];
      default:
        return [];
    }
  },
  // An edge document's id is `orderId|from->to`; a position document's is the order id.
  evolve: (doc, event, id) => (id.includes('|') ? evolveEdge(doc as SagaEdgeDoc | null, event, id) : evolvePosition(doc as SagaPositionDoc | null, event, id)),
  summary: { id: SAGA_STATS_ID, initial: emptySagaStats, add: addPosition },
};

function evolvePosition(doc: SagaPositionDoc | null, event: RecordedEvent, id: string): SagaPositionDoc | null {
  switch (event.type) {
    case 'SagaStarted':
      return {
        id,
        orderId: id,
        version: event.data.version ?? 1,
        customer: customerOf(event.data.context),
        state: event.data.state,
        status: 'running',
        startedAt: event.data.at,
        since: event.data.at,
        transitions: {},
        _applied: doc?._applied ?? [],
      };
    case 'SagaTransitioned': {
      const d = event.data;
      const base: SagaPositionDoc = doc ?? {
        id,
        orderId: id,
        version: 1,
        customer: customerOf(d.context),
        state: d.from,
        status: d.status,
        startedAt: d.at,
        since: d.at,
        transitions: {},
        _applied: [],
      };
      return {
        ...base,
        state: d.to,
        status: d.status,
        since: d.to === base.state ? base.since : d.at,
        transitions: bump(base.transitions, transitionKey(d.from, d.to), 1),
      };
    }
    case 'SagaEnded':
      return doc ? { ...doc, status: event.data.status } : null;
    case 'SagaMigrated': {
      if (!doc) return null;
      const d = event.data;
      return { ...doc, version: d.toVersion, state: d.to, since: d.to === doc.state ? doc.since : d.at };
    }
    default:
      return doc;
  }
}

function evolveEdge(doc: SagaEdgeDoc | null, event: RecordedEvent, id: string): SagaEdgeDoc | null {
  if (event.type !== 'SagaTransitioned') return doc;
  const d = event.data;
  if (doc) return { ...doc, count: doc.count + 1 };
  return {
    id,
    orderId: d.orderId,
    edge: transitionKey(d.from, d.to),
    version: d.version ?? 1,
    customer: customerOf(d.context),
    at: d.at,
    count: 1,
    _applied: [],
  };
}

export interface SagaStatsView extends SagaCounts {}

export interface SagaInState {
  orderId: string;
  version: number;
  customer: string;
  state: string;
  status: SagaStatus;
  startedAt: string;
  since: string;
}

export interface SagaOnEdge {
  orderId: string;
  version: number;
  customer: string;
  edge: string;
  /** When it first took the edge, and how many times. */
  at: string;
  count: number;
}

/** How an instance list is narrowed: order id prefix, customer email, a time window (`since` <= t < `until`), a version. */
export interface InstanceSearch {
  orderId?: string;
  customer?: string;
  since?: string;
  until?: string;
  version?: number;
  cursor?: string;
  limit: number;
}

function searchFilter(query: InstanceSearch, timeField: 'since' | 'at'): Filter {
  const filter: Filter = {};
  // A prefix of the order id: every id that starts with it sorts between it and it + the last code point.
  if (query.orderId) filter.orderId = { $gte: query.orderId, $lt: `${query.orderId}\u{10FFFF}` };
  if (query.customer) filter.customer = query.customer;
  if (query.version !== undefined) filter.version = query.version;
  if (query.since || query.until) filter[timeField] = { ...(query.since ? { $gte: query.since } : {}), ...(query.until ? { $lt: query.until } : {}) };
  return filter;
}

export async function openSagaStatsQueries(store: DocumentStore) {
  const docs: Collection<SagaPositionDoc & SagaEdgeDoc> = await store.collection<SagaPositionDoc & SagaEdgeDoc>(sagaStatsProjection.collection);
  return {
    /** Exact counts over every saga, or over the sagas of one definition version. */
    async get(version?: number): Promise<SagaStatsView> {
      const doc = ((await docs.get(SAGA_STATS_ID)) as unknown as SagaStatsDoc | null) ?? emptySagaStats();
      if (version === undefined) return { total: doc.total, states: doc.states, transitions: doc.transitions };
      const counts = doc.versions?.[String(version)] ?? emptyCounts();
      return { total: counts.total, states: counts.states, transitions: counts.transitions };
    },
    /** The instances in one state now, the latest to arrive first. */
    async inState(query: InstanceSearch & { state: string }): Promise<{ items: SagaInState[]; nextCursor: string | null }> {
      const page = await docs.find({
        filter: { ...searchFilter(query, 'since'), state: query.state },
        sort: { field: 'since', direction: 'desc' },
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return {
        items: page.items.map(({ orderId, version, customer, state, status, startedAt, since }) => ({
          orderId,
          version: version ?? 1,
          customer: customer ?? '',
          state,
          status,
          startedAt,
          since,
        })),
        nextCursor: page.nextCursor,
      };
    },
    /** The instances that took one transition, the latest to take it first. */
    async onEdge(query: InstanceSearch & { edge: string }): Promise<{ items: SagaOnEdge[]; nextCursor: string | null }> {
      const page = await docs.find({
        filter: { ...searchFilter(query, 'at'), edge: query.edge },
        sort: { field: 'at', direction: 'desc' },
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return {
        items: page.items.map(({ orderId, version, customer, edge, at, count }) => ({ orderId, version, customer, edge, at, count })),
        nextCursor: page.nextCursor,
      };
    },
  };
}
export type SagaStatsQueries = Awaited<ReturnType<typeof openSagaStatsQueries>>;
