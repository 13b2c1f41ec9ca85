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
  /** Who acted, when the input was an operator's action or migration. */
  operator?: { id: string; action: string; reason: string };
}

/** The saga cannot go on by itself (a dead letter it needs, a step re-sent past its limit): operators act on it. */
export interface SagaStuckView {
  step: string;
  reason: 'dead-lettered' | 'retries-exhausted';
  error: string | null;
  since: string;
}

export interface SagaStep {
  state: string;
  enteredAt: string;
  leftAt: string | null;
  durationMs: number | null;
}

export interface SagaDoc extends ProjectedDoc {
  orderId: string;
  /** The definition version it runs (SagaStarted's, then each migration's; 1 for sagas from before versions). */
  version: number;
  state: string;
  status: SagaStatus;
  stuck: SagaStuckView | null;
  flags: string[];
  history: SagaHistoryEntry[];
  steps: SagaStep[];
  timer: { step: string; dueAt: string } | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  updatedAt: string;
}

const eventTypes = ['SagaStarted', 'SagaTransitioned', 'SagaEnded', 'SagaMigrated'] as const satisfies readonly EventType[];

/** The operator behind an input, read from the input as the saga recorded it. */
function operatorOf(input: { type: string; event?: Record<string, unknown> }): SagaHistoryEntry['operator'] | undefined {
  const e = input.event;
  if (input.type !== 'OperatorActed' || !e) return undefined;
  return { id: String(e.operator), action: String(e.action), reason: String(e.reason) };
}

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
  docIds: (event) =>
    event.type === 'SagaStarted' || event.type === 'SagaTransitioned' || event.type === 'SagaEnded' || event.type === 'SagaMigrated' ? [event.data.orderId] : [],
  evolve: (doc, event, id) => {
    switch (event.type) {
      case 'SagaStarted': {
        const at = event.data.at;
        return {
          id,
          orderId: id,
          version: event.data.version ?? 1,
          state: event.data.state,
          status: 'running',
          stuck: null,
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
        const operator = operatorOf(d.input);
        return {
          ...doc,
          state: d.to,
          status: d.status,
          stuck: d.stuck ?? null,
          flags: d.flags,
          history: [
            ...doc.history,
            { from: d.from, to: d.to, input: { type: d.input.type, eventId: d.input.eventId }, at: d.at, commands: d.commands.map((c) => c.type), ...(operator ? { operator } : {}) },
          ],
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
      case 'SagaMigrated': {
        if (!doc) return null;
        const d = event.data;
        return {
          ...doc,
          version: d.toVersion,
          state: d.to,
          history: [
            ...doc.history,
            {
              from: d.from,
              to: d.to,
              input: { type: 'SagaMigrated', eventId: event.eventId },
              at: d.at,
              commands: [],
              operator: { id: d.operator, action: `migrate to version ${d.toVersion}`, reason: d.reason },
            },
          ],
          steps: enter(doc.steps, d.to, d.at),
          updatedAt: d.at,
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
