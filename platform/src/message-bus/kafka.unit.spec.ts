import { AssignerProtocol } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { subscribedTopics } from './kafka';
import { topicOffsets } from './kafka/checkpoints';
import { DEFAULT_SESSION_TIMEOUT_MS, heartbeatIntervalFor } from './kafka/consumer';

describe('kafka bus: group members and sessions', () => {
  it('reads a member\'s topics, and none from the empty metadata of a member joining a rebalance', () => {
    const metadata = AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['order.events', 'saga.inputs'], userData: Buffer.alloc(0) });
    expect(subscribedTopics(metadata)).toEqual(['order.events', 'saga.inputs']);
    // kafkajs's own decoder throws a RangeError here: an orchestrator asking for its group's lag exited while booting.
    expect(() => AssignerProtocol.MemberMetadata.decode(Buffer.alloc(0))).toThrow(RangeError);
    expect(subscribedTopics(Buffer.alloc(0))).toEqual([]);
    expect(subscribedTopics(Buffer.from([0, 1]))).toEqual([]);
  });

  it('heartbeats often enough that a rebalance is noticed within a second, and well inside the session', () => {
    expect(DEFAULT_SESSION_TIMEOUT_MS).toBeLessThan(30_000);
    for (const session of [6_000, DEFAULT_SESSION_TIMEOUT_MS, 30_000]) {
      expect(heartbeatIntervalFor(session)).toBeLessThanOrEqual(1_000);
      expect(heartbeatIntervalFor(session) * 5).toBeLessThanOrEqual(session);
    }
  });
});

describe('kafka bus: topic offsets', () => {
  const answer = [{ partition: 0, offset: '5', high: '5', low: '0' }];
  const admin = (failures: number, error: () => Error) => {
    let calls = 0;
    return {
      calls: () => calls,
      fetchTopicOffsets: async () => {
        calls++;
        if (calls <= failures) throw error();
        return answer;
      },
    };
  };

  it("asks again when kafkajs trips over an answer without the topic (its TypeError), and gives up after five tries", async () => {
    const typeError = () => new TypeError("Cannot destructure property 'partitions' of 'low.pop(...)' as it is undefined.");
    const flaky = admin(2, typeError);
    expect(await topicOffsets(flaky as never, 't')).toEqual(answer);
    expect(flaky.calls()).toBe(3);
    const broken = admin(10, typeError);
    await expect(topicOffsets(broken as never, 't')).rejects.toBeInstanceOf(TypeError);
    expect(broken.calls()).toBe(5);
  });

  it('passes any other error through at once', async () => {
    const other = admin(1, () => new Error('UNKNOWN_TOPIC_OR_PARTITION'));
    await expect(topicOffsets(other as never, 't')).rejects.toThrow('UNKNOWN_TOPIC_OR_PARTITION');
    expect(other.calls()).toBe(1);
  });
});
