import { AssignerProtocol } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { subscribedTopics } from './kafka';
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
