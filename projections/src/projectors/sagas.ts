import type { EventType } from '@saga/event-schemas/catalog';
import type { SagaStatus } from '@saga/event-schemas/saga';
import type { Collection, DocumentStore, Filter } from '@saga/platform/document-store/port';
import { appliedRevision, publicView, type PublicView, type ProjectedDoc, type Projection } from './projection';
import { listFilter } from './orders';

/**
 * The sagas read model, one document per order's saga, from the saga's own stream: where it
 * is, how it got there (every input with the states it left and entered), how long each
 * step took, and the flags it ended with (e.g. the email that never went out).
 */
export interface SagaHistoryEntry {
  from: string | null;
  to: string;
  input: { type: string; eventId: string };
  at: string;
  commands: string[];
}

export interface SagaStep {
  state: string;
  enteredAt: string;
  leftAt: string | null;
  durationMs: number | null;
}

export interface SagaDoc extends ProjectedDoc {
  orderId: string;
  state: string;
  status: SagaStatus;
  flags: string[];
  history: SagaHistoryEntry[];
  steps: SagaStep[];
  timer: { step: string; dueAt: string } | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  updatedAt: string;
}

const eventTypes = ['SagaStarted', 'SagaTransitioned', 'SagaEnded'] as const satisfies readonly EventType[];

const ms = (from: string, to: string) => Date.parse(to) - Date.parse(from);

/** Closes the running step and opens the next one (a self-transition keeps the step open). */
function enter(steps: SagaStep[], state: string, at: string): SagaStep[] {
  const last = steps[steps.length - 1];
  if (last && last.leftAt === null && last.state === state) return steps;
  const closed = last && last.leftAt === null ? [...steps.slice(0, -1), { ...last, leftAt: at, durationMs: ms(last.enteredAt, at) }] : steps;
  return [...closed, { state, enteredAt: at, leftAt: null, durationMs: null }];
}

export const sagasProjection: Projection<SagaDoc> = {
  name: 'sagas',
  collection: { name: 'sagas', indexes: ['status', 'startedAt'], compound: [['status', 'startedAt']] },
  eventTypes,
  docIds: (event) => (event.type === 'SagaStarted' || event.type === 'SagaTransitioned' || event.type === 'SagaEnded' ? [event.data.orderId] : []),
  evolve: (doc, event, id) => {
    switch (event.type) {
      case 'SagaStarted': {
        const at = event.data.at;
        return {
          id,
          orderId: id,
          state: event.data.state,
          status: 'running',
          flags: [],
          history: [
            {
              from: null,
              to: event.data.state,
              input: { type: 'OrderPlaced', eventId: event.data.inputEventId },
              at,
              commands: event.data.commands.map((c) => c.type),
            },
          ],
          steps: [{ state: event.data.state, enteredAt: at, leftAt: null, durationMs: null }],
          timer: event.data.timer,
          startedAt: at,
          endedAt: null,
          durationMs: null,
          updatedAt: at,
          _applied: doc?._applied ?? [],
        };
      }
      case 'SagaTransitioned': {
        if (!doc) return null;
        const d = event.data;
        return {
          ...doc,
          state: d.to,
          status: d.status,
          flags: d.flags,
          history: [...doc.history, { from: d.from, to: d.to, input: d.input, at: d.at, commands: d.commands.map((c) => c.type) }],
          steps: enter(doc.steps, d.to, d.at),
          timer: d.timer,
          updatedAt: d.at,
        };
      }
      case 'SagaEnded': {
        if (!doc) return null;
        const d = event.data;
        const steps = doc.steps.map((s, i) =>
          i === doc.steps.length - 1 && s.leftAt === null ? { ...s, leftAt: d.endedAt, durationMs: ms(s.enteredAt, d.endedAt) } : s,
        );
        return {
          ...doc,
          status: d.status,
          flags: d.flags,
          steps,
          timer: null,
          endedAt: d.endedAt,
          durationMs: d.durationMs,
          updatedAt: d.endedAt,
        };
      }
      default:
        return doc;
    }
  },
};

export type SagaView = PublicView<SagaDoc>;

export async function openSagaQueries(store: DocumentStore) {
  const sagas: Collection<SagaDoc> = await store.collection<SagaDoc>(sagasProjection.collection);
  return {
    async get(orderId: string): Promise<SagaView | null> {
      const doc = await sagas.get(orderId);
      return doc ? publicView(doc) : null;
    },
    /** The saga once it reflects the given revision of its stream, else null: for live updates. */
    async includes(orderId: string, revision: number): Promise<SagaView | null> {
      const doc = await sagas.get(orderId);
      return doc && appliedRevision(doc, `saga-${orderId}`) >= revision ? publicView(doc) : null;
    },
    async list(query: { status?: SagaStatus; idPrefix?: string; since?: string; until?: string; cursor?: string; limit: number }): Promise<{ items: SagaView[]; nextCursor: string | null }> {
      const filter: Filter = listFilter(query, 'startedAt');
      if (query.status !== undefined) filter.status = query.status;
      const page = await sagas.find({
        filter,
        sort: { field: 'startedAt', direction: 'desc' },
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return { items: page.items.map(publicView), nextCursor: page.nextCursor };
    },
    async getMany(orderIds: string[]): Promise<SagaView[]> {
      return (await sagas.getMany(orderIds)).map(publicView);
    },
  };
}
export type SagaQueries = Awaited<ReturnType<typeof openSagaQueries>>;
