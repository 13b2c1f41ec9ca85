import type { Kafka } from 'kafkajs';
import { newId } from '../../ids';

/**
 * Publisher checkpoints: records keyed by name in one compacted topic, written in the same
 * transaction as the messages they account for. Not `__checkpoints`: a leading `__` is Kafka's
 * convention for internal topics, which tools hide (K10).
 */
export const checkpointsTopic = 'saga.checkpoints';

type Admin = ReturnType<Kafka['admin']>;

/**
 * A topic's partition offsets. kafkajs 2.2.4's `fetchTopicOffsets` throws a TypeError
 * ("Cannot destructure property 'partitions' of 'low.pop(...)'") when one of its two offset
 * requests (latest, earliest) comes back without the topic, as for a moment after the topic was
 * created, before each partition's leader is known: seen in CI as a dispatcher that failed its
 * log read and resubscribed. That is tried again shortly, a few times, as kafkajs retries the
 * errors it knows to be retriable.
 */
export async function topicOffsets(admin: Admin, topic: string): ReturnType<Admin['fetchTopicOffsets']> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (!(error instanceof TypeError) || attempt === 5) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/**
 * Reads the checkpoint topic read-committed up to its end when asked and returns the name's
 * last value. The caller has first initialised its own transactional producer: that settles its
 * crashed predecessor's transaction (aborts it, or completes a commit already prepared), so the
 * value read cannot move on afterwards and make the restarted publisher send a batch again.
 *
 * The end is the high watermark, not the last stable offset (what kafkajs's ListOffsets returns,
 * READ_COMMITTED): a record committed after another checkpoint's writer opened a transaction is
 * past the LSO for as long as that transaction is open, and a read that stopped there would
 * return an older value. So the read waits for such transactions to settle: a live writer's
 * within milliseconds, a dead one's when the coordinator aborts it (its transaction timeout).
 * Left out: a partition whose every record since its start is in an open transaction reads as
 * empty (the LSO is then its start, and without a fetch its high watermark is unknown).
 */
export async function readCheckpointTopic(kafka: Kafka, admin: Admin, clientId: string, name: string, timeoutMs = 30_000): Promise<string | undefined> {
  const ends = await topicOffsets(admin, checkpointsTopic);
  const pending = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]));
  if (pending.size === 0) return undefined;

  const groupId = `${clientId}.checkpoint-reader.${newId()}`;
  const reader = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  let value: string | undefined;
  const extended = new Set<number>();
  try {
    await reader.connect();
    await reader.subscribe({ topics: [checkpointsTopic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out reading ${checkpointsTopic}`)), timeoutMs);
      // Fired for every fetched batch, including those holding only transaction markers.
      reader.on(reader.events.END_BATCH_PROCESS, ({ payload }) => {
        let target = pending.get(payload.partition);
        if (target === undefined) return;
        // The last stable offset stops at the first open transaction, and another checkpoint's
        // writer that died holding one hides every record after it, this name's last included:
        // the read goes on to the partition's high watermark as first fetched, as those
        // transactions settle (each within the coordinator's timeout of it).
        if (!extended.has(payload.partition)) {
          extended.add(payload.partition);
          const high = BigInt(payload.highWatermark) - 1n;
          if (high > target) pending.set(payload.partition, (target = high));
        }
        if (BigInt(payload.lastOffset) >= target) pending.delete(payload.partition);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      reader
        .run({
          eachMessage: async ({ message }) => {
            if (message.key?.toString() === name) value = message.value?.toString();
          },
        })
        .catch(reject);
    });
  } finally {
    // A broker that is still recovering can hold a consumer's disconnect up: do not wait for ever.
    await Promise.race([reader.disconnect().catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
    await admin.deleteGroups([groupId]).catch(() => undefined); // only tidiness: an empty group expires anyway
  }
  return value;
}
