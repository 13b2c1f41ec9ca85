import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { positionParam, type EventStore } from '@saga/platform/event-store/port';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { ValidationError } from '@saga/platform/errors';
import { replayTopicOf } from '@saga/projections/projectors/runner';
import { backgroundTurn } from '@saga/platform/turns';

/**
 * Re-publishes a range of the global log for one consumer group. The events go to
 * `replay.<groupId>`, a topic only that group subscribes to, in the same wire format and
 * keyed by stream id as on `events.<category>`; so that group alone reprocesses them, in
 * each stream's order, and every other group is untouched. (Resetting the group's offsets
 * instead would replay the whole retained topic, not a range, and needs the group stopped.)
 * A consumer opts in by adding `replayTopicOf(groupId)` to its topics; the projectors do.
 *
 * The range is given by positions the log handed out (opaque cursors), and read page after
 * page from the last position of the one before; its size is counted in events.
 */
export interface ReplayResult {
  groupId: string;
  topic: string;
  fromPosition: LogPosition;
  toPosition: LogPosition;
  published: number;
}

export async function republishRange(
  deps: { eventStore: EventStore; bus: MessageBus },
  request: { groupId: string; fromPosition: LogPosition; toPosition?: LogPosition },
  limits: { maxEvents: number; pageSize: number } = { maxEvents: 200_000, pageSize: 250 },
): Promise<ReplayResult> {
  const { eventStore } = deps;
  // Both ends must be events' positions: the store refuses any other as a 400 on that field.
  await positionParam('fromPosition', eventStore.readAll({ fromPosition: request.fromPosition, limit: 1 }));
  if (request.toPosition !== undefined) await positionParam('toPosition', eventStore.readAll({ fromPosition: request.toPosition, limit: 1 }));
  // A valid fromPosition means the log is not empty, so it has a head.
  const to = request.toPosition ?? (await eventStore.headPosition())!;

  /** Each page of the range in log order: the first from `fromPosition`, the others after the last one read. */
  const eachPage = async (visit: (page: RecordedEvent[]) => Promise<boolean>) => {
    let after: LogPosition | undefined;
    for (;;) {
      const events = await eventStore.readAll(after === undefined ? { fromPosition: request.fromPosition, limit: limits.pageSize } : { after, limit: limits.pageSize });
      // Positions compare as strings in log order.
      const page = events.filter((e) => e.position <= to);
      if (page.length === 0 || !(await visit(page)) || page.length < events.length || events.length < limits.pageSize) return;
      after = page[page.length - 1]!.position;
      // Up to 200,000 events in a request: the embedded stores read and publish synchronously,
      // so each page (250 events, a few milliseconds; pages of 1,000 took 20-30 ms) waits for a
      // background turn, and queries, /healthz, consumers and timers run between pages.
      await backgroundTurn();
    }
  };

  // Counted before anything is published, so a range that is too long changes nothing.
  let size = 0;
  await eachPage(async (page) => {
    size += page.length;
    return size <= limits.maxEvents;
  });
  if (size > limits.maxEvents) {
    throw new ValidationError(`a replay covers at most ${limits.maxEvents} events`, [
      { path: ['toPosition'], message: `at most ${limits.maxEvents} events from fromPosition` },
    ]);
  }

  const topic = replayTopicOf(request.groupId);
  let published = 0;
  await eachPage(async (page) => {
    await deps.bus.publish(
      topic,
      page.map((e) => ({ key: e.streamId, value: JSON.stringify(e), headers: { replay: 'true' } })),
    );
    published += page.length;
    return true;
  });
  return { groupId: request.groupId, topic, fromPosition: request.fromPosition, toPosition: to, published };
}
