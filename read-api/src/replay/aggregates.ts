import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf, idOf } from '@saga/event-schemas/streams';
import * as email from '@saga/command-services/email/state';
import * as inventory from '@saga/command-services/inventory/state';
import * as order from '@saga/command-services/order/state';
import * as payment from '@saga/command-services/payment/state';
import { statusOf } from '@saga/saga-orchestrator/machine';
import { foldSaga } from '@saga/saga-orchestrator/saga-stream';

/**
 * Time travel folds a stream with its domain's own `evolve` (never a second copy of the
 * rules), so the explorer shows exactly the state the command handlers decide on.
 */
type Fold = (streamId: string, events: readonly RecordedEvent[]) => unknown;

/** A decider's fold: its events are the stream's events (the store only holds valid ones). */
const deciderFold =
  <S>(initialState: S, evolve: (state: S, event: never) => S): Fold =>
  (_streamId, events) =>
    events.reduce((state, event) => evolve(state, { type: event.type, data: event.data } as never), initialState);

const folds: Record<string, Fold> = {
  order: deciderFold(order.initialState, order.evolve),
  inventory: deciderFold(inventory.initialState, inventory.evolve),
  payment: deciderFold(payment.initialState, payment.evolve),
  email: deciderFold(email.initialState, email.evolve),
  saga: (streamId, events) => {
    const record = foldSaga(idOf(streamId), events);
    if (!record) return { status: 'none' };
    return {
      state: record.state,
      status: statusOf(record.state),
      context: record.snapshot.context,
      inputsSeen: [...record.seen],
    };
  },
};

export const canFold = (streamId: string): boolean => categoryOf(streamId) in folds;

/** Maps and sets (the warehouse keeps some) become plain JSON, sorted so a diff is stable. */
export function toJson(value: unknown): unknown {
  if (value instanceof Map) {
    return Object.fromEntries([...value.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)).map(([k, v]) => [String(k), toJson(v)]));
  }
  if (value instanceof Set) return [...value].map(toJson);
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  return value;
}

/** The aggregate's state after the given events (the stream's first events, in order). */
export function foldStream(streamId: string, events: readonly RecordedEvent[]): unknown {
  const fold = folds[categoryOf(streamId)];
  if (!fold) throw new Error(`no fold for stream ${streamId}`);
  return toJson(fold(streamId, events));
}
