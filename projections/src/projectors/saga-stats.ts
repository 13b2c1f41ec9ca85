import type { EventType } from '@saga/event-schemas/catalog';
import type { SagaStatus } from '@saga/event-schemas/saga';
import type { Collection, DocumentStore, Document } from '@saga/platform/document-store/port';
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
  state: string;
  status: SagaStatus;
  startedAt: string;
  /** When it entered its current state. */
  since: string;
  /** `from->to` -> times this instance took it. */
  transitions: Record<string, number>;
}

export interface SagaStatsDoc extends Document {
  total: number;
  states: Record<string, number>;
  transitions: Record<string, number>;
}

export const SAGA_STATS_ID = 'totals';

const eventTypes = ['SagaStarted', 'SagaTransitioned', 'SagaEnded'] as const satisfies readonly EventType[];

export const transitionKey = (from: string, to: string) => `${from}->${to}`;

export const emptySagaStats = (): SagaStatsDoc => ({ id: SAGA_STATS_ID, total: 0, states: {}, transitions: {} });

/** A count moved by `delta`; a key back at zero is dropped, so the keys never depend on delivery order. */
function bump(counts: Record<string, number>, key: string, delta: number): Record<string, number> {
  const now = (counts[key] ?? 0) + delta;
  const { [key]: _was, ...others } = counts;
  return now === 0 ? others : { ...others, [key]: now };
}

function addPosition(stats: SagaStatsDoc, doc: SagaPositionDoc, sign: 1 | -1): SagaStatsDoc {
  let transitions = stats.transitions;
  for (const [key, n] of Object.entries(doc.transitions)) transitions = bump(transitions, key, sign * n);
  return { ...stats, total: stats.total + sign, states: bump(stats.states, doc.state, sign), transitions };
}

export const sagaStatsProjection: Projection<SagaPositionDoc, SagaStatsDoc> = {
  name: 'sagastats',
  collection: { name: 'sagastats', indexes: ['state', 'since'], compound: [['state', 'since']] },
  eventTypes,
  docIds: (event) => (event.type === 'SagaStarted' || event.type === 'SagaTransitioned' || event.type === 'SagaEnded' ? [event.data.orderId] : []),
  evolve: (doc, event, id) => {
    switch (event.type) {
      case 'SagaStarted':
        return {
          id,
          orderId: id,
          state: event.data.state,
          status: 'running',
          startedAt: event.data.at,
          since: event.data.at,
          transitions: {},
          _applied: doc?._applied ?? [],
        };
      case 'SagaTransitioned': {
        const d = event.data;
        const base = doc ?? { id, orderId: id, state: d.from, status: d.status, startedAt: d.at, since: d.at, transitions: {}, _applied: [] };
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
      default:
        return doc;
    }
  },
  summary: { id: SAGA_STATS_ID, initial: emptySagaStats, add: addPosition },
};

export interface SagaStatsView {
  total: number;
  states: Record<string, number>;
  transitions: Record<string, number>;
}

export interface SagaInState {
  orderId: string;
  state: string;
  status: SagaStatus;
  startedAt: string;
  since: string;
}

export async function openSagaStatsQueries(store: DocumentStore) {
  const docs: Collection<SagaPositionDoc> = await store.collection<SagaPositionDoc>(sagaStatsProjection.collection);
  return {
    async get(): Promise<SagaStatsView> {
      const doc = ((await docs.get(SAGA_STATS_ID)) as unknown as SagaStatsDoc | null) ?? emptySagaStats();
      return { total: doc.total, states: doc.states, transitions: doc.transitions };
    },
    /** The instances in one state now, the latest to arrive first. */
    async inState(query: { state: string; cursor?: string; limit: number }): Promise<{ items: SagaInState[]; nextCursor: string | null }> {
      const page = await docs.find({
        filter: { state: query.state },
        sort: { field: 'since', direction: 'desc' },
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return {
        items: page.items.map(({ orderId, state, status, startedAt, since }) => ({ orderId, state, status, startedAt, since })),
        nextCursor: page.nextCursor,
      };
    },
  };
}
export type SagaStatsQueries = Awaited<ReturnType<typeof openSagaStatsQueries>>;
