import type { EventStore } from '@saga/platform/event-store/port';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { ValidationError } from '@saga/platform/errors';
import { replayTopicOf } from '@saga/projections/projectors/runner';

/**
 * Re-publishes a range of the global log for one consumer group. The events go to
 * `replay.<groupId>`, a topic only that group subscribes to, in the same wire format and
 * keyed by stream id as on `events.<category>`; so that group alone reprocesses them, in
 * each stream's order, and every other group is untouched. (Resetting the group's offsets
 * instead would replay the whole retained topic, not a range, and needs the group stopped.)
 * A consumer opts in by adding `replayTopicOf(groupId)` to its topics; the projectors do.
 */
export interface ReplayResult {
  groupId: string;
  topic: string;
  fromPosition: number;
  toPosition: number;
  published: number;
}

export async function republishRange(
  deps: { eventStore: EventStore; bus: MessageBus },
  request: { groupId: string; fromPosition: number; toPosition?: number },
  limits: { maxEvents: number; pageSize: number } = { maxEvents: 200_000, pageSize: 1000 },
): Promise<ReplayResult> {
  const head = await deps.eventStore.headPosition();
  const to = Math.min(request.toPosition ?? head, head);
  if (to - request.fromPosition + 1 > limits.maxEvents) {
    throw new ValidationError(`a replay covers at most ${limits.maxEvents} positions`, [
      { path: ['toPosition'], message: `at most ${limits.maxEvents} positions after fromPosition` },
    ]);
  }
  const topic = replayTopicOf(request.groupId);
  let from = request.fromPosition;
  let published = 0;
  while (from <= to) {
    const page = (await deps.eventStore.readAll({ fromPosition: from, limit: limits.pageSize })).filter((e) => e.position <= to);
    if (page.length === 0) break;
    await deps.bus.publish(
      topic,
      page.map((e) => ({ key: e.streamId, value: JSON.stringify(e), headers: { replay: 'true' } })),
    );
    published += page.length;
    from = page[page.length - 1]!.position + 1;
  }
  return { groupId: request.groupId, topic, fromPosition: request.fromPosition, toPosition: to, published };
}
