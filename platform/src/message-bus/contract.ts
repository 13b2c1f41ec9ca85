import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterTopic } from '@saga/event-schemas/streams';
import { partitionForKey } from './partitioner';
import type { BusMessage, Consumer, ConsumerOptions, MessageBus, TopicPartition } from './port';

/**
 * The behaviour every MessageBus adapter must show, run against each adapter by its own
 * `*.int.spec.ts`. Every test uses fresh topic and group names, so a shared broker is fine.
 */
export function messageBusContract(name: string, open: () => Promise<MessageBus>): void {
  describe(`MessageBus contract: ${name}`, () => {
    let bus: MessageBus;
    const consumers: Consumer[] = [];

    beforeAll(async () => {
      bus = await open();
    });
    afterAll(async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      await bus.close();
    });

    const unique = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;
    const fastRetry = { maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 };

    async function consume(options: ConsumerOptions): Promise<Consumer> {
      const consumer = await bus.consume(options);
      consumers.push(consumer);
      return consumer;
    }

    /** Consumes into an array until `count` messages arrived. */
    async function collect(groupId: string, topic: string, count: number, extra: Partial<ConsumerOptions> = {}) {
      const received: BusMessage[] = [];
      const consumer = await consume({
        groupId,
        topics: [topic],
        handler: async (m) => {
          received.push(m);
        },
        ...extra,
      });
      await until(() => received.length >= count, `${groupId} to receive ${count} messages from ${topic}`);
      return { received, consumer };
    }

    const numbered = (keys: string[], perKey: number) =>
      Array.from({ length: perKey }, (_, seq) => keys.map((key) => ({ key, value: JSON.stringify({ key, seq }) }))).flat();

    it('keeps each key in order while spreading keys over partitions', async () => {
      const topic = unique('order');
      await bus.createTopics([{ name: topic, partitions: 4 }]);
      const keys = Array.from({ length: 12 }, (_, i) => `stream-${i}`);
      const messages = numbered(keys, 20);
      for (let i = 0; i < messages.length; i += 37) await bus.publish(topic, messages.slice(i, i + 37));

      const { received } = await collect(unique('g'), topic, messages.length);

      expect(received).toHaveLength(messages.length);
      for (const key of keys) {
        const own = received.filter((m) => m.key === key);
        expect(own.map((m) => (JSON.parse(m.value) as { seq: number }).seq)).toEqual(Array.from({ length: 20 }, (_, i) => i));
        expect(new Set(own.map((m) => m.partition))).toEqual(new Set([partitionForKey(key, 4)]));
      }
      expect(new Set(received.map((m) => m.partition)).size).toBeGreaterThan(1);
    });

    it('delivers every message to each consumer group', async () => {
      const topic = unique('fanout');
      await bus.createTopics([{ name: topic, partitions: 3 }]);
      const messages = numbered(['a', 'b', 'c', 'd'], 10);
      await bus.publish(topic, messages);

      const [first, second] = await Promise.all([
        collect(unique('g1'), topic, messages.length),
        collect(unique('g2'), topic, messages.length),
      ]);

      const sorted = (ms: { value: string }[]) => ms.map((m) => m.value).sort();
      expect(sorted(first.received)).toEqual(sorted(messages));
      expect(sorted(second.received)).toEqual(sorted(messages));
    });

    it('redelivers a message whose handler threw, without committing it first', async () => {
      const topic = unique('retry');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      await bus.publish(topic, [
        { key: 'k', value: '"a"' },
        { key: 'k', value: '"b"' },
        { key: 'k', value: '"c"' },
      ]);
      const seen: string[] = [];
      const committedAtRetry: number[] = [];
      let failed = false;
      await consume({
        groupId,
        topics: [topic],
        retry: fastRetry,
        handler: async (m) => {
          seen.push(JSON.parse(m.value) as string);
          if (m.value === '"b"' && !failed) {
            failed = true;
            throw new Error('transient');
          }
          if (m.value === '"b"') committedAtRetry.push(...(await bus.lag(groupId)).map((l) => l.committed));
        },
      });
      await until(() => seen.length === 4, 'redelivery');
      await until(async () => (await bus.lag(groupId))[0]?.committed === 3, 'commit of all three');

      expect(seen).toEqual(['a', 'b', 'b', 'c']);
      // While "b" was being retried, the committed offset had not moved past it.
      expect(committedAtRetry[0]).toBeLessThanOrEqual(1);
    });

    it('resumes a stopped group from its committed offset, losing nothing', async () => {
      const topic = unique('resume');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      const messages = numbered(['k'], 60);
      await bus.publish(topic, messages);

      const firstRun: number[] = [];
      let stopping: Promise<void> | undefined;
      const first = await consume({
        groupId,
        topics: [topic],
        maxBatchSize: 8,
        handler: async (m) => {
          firstRun.push(m.offset);
          if (firstRun.length === 25) stopping = first.stop();
          await new Promise((r) => setTimeout(r, 1));
        },
      });
      await until(() => stopping !== undefined, 'first consumer to reach 25');
      await stopping;
      const [afterStop] = await bus.lag(groupId);
      // Everything handled before the stop was committed, and nothing beyond it.
      expect(afterStop).toEqual({ topic, partition: 0, committed: firstRun.length, end: 60, lag: 60 - firstRun.length });

      const { received } = await collect(groupId, topic, 60 - firstRun.length);
      expect(firstRun).toEqual(Array.from({ length: firstRun.length }, (_, i) => i));
      expect(received.map((m) => m.offset)).toEqual(Array.from({ length: 60 - firstRun.length }, (_, i) => i + firstRun.length));
    });

    it('dead-letters a poison message after maxAttempts and moves on', async () => {
      const topic = unique('poison');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      await bus.publish(topic, [
        { key: 'k', value: '"ok-1"' },
        { key: 'k', value: '"poison"', headers: { trace: 't-1' } },
        { key: 'k', value: '"ok-2"' },
      ]);
      const handled: string[] = [];
      let poisonAttempts = 0;
      await consume({
        groupId,
        topics: [topic],
        retry: fastRetry,
        handler: async (m) => {
          if (m.value === '"poison"') {
            poisonAttempts++;
            throw new RangeError('cannot digest this');
          }
          handled.push(JSON.parse(m.value) as string);
        },
      });
      await until(() => handled.length === 2, 'the message after the poison one');
      expect(handled).toEqual(['ok-1', 'ok-2']);
      expect(poisonAttempts).toBe(3);

      const { received } = await collect(unique('dlq-reader'), deadLetterTopic(topic), 1);
      const { 'dlq-failed-at': failedAt, ...headers } = received[0]!.headers;
      expect({ key: received[0]!.key, value: received[0]!.value, headers }).toEqual({
        key: 'k',
        value: '"poison"',
        headers: {
          trace: 't-1',
          'dlq-error': 'RangeError: cannot digest this',
          'dlq-original-topic': topic,
          'dlq-original-partition': '0',
          'dlq-original-offset': '1',
          'dlq-attempts': '3',
          // Which consumer group gave up on it: the dead-letter list shows it, and a retry goes back to that group.
          'dlq-group': groupId,
        },
      });
      expect(Number.isNaN(Date.parse(failedAt ?? ''))).toBe(false);
      await until(async () => (await bus.lag(groupId))[0]?.committed === 3, 'commit past the poison message');
    });

    it('waits out an outage without dead-lettering, and dead-letters only the message that fails on its content', async () => {
      const topic = unique('outage');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      await bus.publish(topic, [
        { key: 'k', value: '"needs-db"' },
        { key: 'k', value: '"poison"' },
        { key: 'k', value: '"ok"' },
      ]);
      // The database is away for 1.5 s: far more attempts than maxAttempts (3) fit in that.
      const outageEnds = Date.now() + 1_500;
      const handled: string[] = [];
      let outageAttempts = 0;
      const committedDuringOutage: number[] = [];
      await consume({
        groupId,
        topics: [topic],
        retry: fastRetry,
        handler: async (m) => {
          const value = JSON.parse(m.value) as string;
          if (value === 'needs-db' && Date.now() < outageEnds) {
            outageAttempts++;
            if (outageAttempts === 5) committedDuringOutage.push(...(await bus.lag(groupId)).map((l) => l.committed));
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:27017'), { name: 'MongoServerSelectionError' });
          }
          if (value === 'poison') throw new SyntaxError('Unexpected token in JSON');
          handled.push(value);
        },
      });
      await until(() => handled.length === 2, 'the message after the outage and the one after the poison one');
      expect(handled).toEqual(['needs-db', 'ok']);
      expect(outageAttempts).toBeGreaterThan(fastRetry.maxAttempts);
      // Nothing was committed past the message while its outage lasted.
      expect(committedDuringOutage.every((c) => c === 0)).toBe(true);
      await until(async () => (await bus.lag(groupId))[0]?.committed === 3, 'commit of all three');

      const dlq = await collect(unique('dlq-reader'), deadLetterTopic(topic), 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(dlq.received.map((m) => [m.value, m.headers['dlq-original-offset'], m.headers['dlq-error']])).toEqual([
        ['"poison"', '1', 'SyntaxError: Unexpected token in JSON'],
      ]);
    });

    it('retries a batch through an outage as a batch, then commits it once', async () => {
      const topic = unique('batch-outage');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      await bus.publish(topic, numbered(['k'], 12));
      let failuresLeft = 8;
      const batches: number[][] = [];
      await consume({
        groupId,
        topics: [topic],
        retry: fastRetry,
        maxBatchSize: 100,
        batchHandler: async (ms) => {
          if (failuresLeft-- > 0) throw Object.assign(new Error('server unavailable'), { name: 'UnavailableError', type: 'unavailable' });
          batches.push(ms.map((m) => m.offset));
        },
      });
      await until(async () => (await bus.lag(groupId))[0]?.committed === 12, 'commit of the batch');
      // One batch, handled once: an outage neither splits it into single messages nor dead-letters any.
      expect(batches).toEqual([Array.from({ length: 12 }, (_, i) => i)]);
    });

    it('reaches lag 0 on a topic written in transactions (with a checkpoint)', async () => {
      const topic = unique('txn-lag');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 2 }]);
      const checkpoint = unique('cp');
      for (let round = 0; round < 3; round++) {
        await bus.publish(topic, numbered(['alpha', 'beta', 'gamma', 'delta'], 2), { checkpoint: { name: checkpoint, value: String(round) } });
      }
      await collect(groupId, topic, 24);
      await until(async () => {
        const lag = await bus.lag(groupId);
        return lag.length === 2 && lag.every((l) => l.lag === 0 && l.committed === l.end);
      }, 'lag 0 on both partitions');
    });

    it('splits a group between two members and hands a stopped member\'s partitions to the other', async () => {
      const topic = unique('split');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 4 }]);
      const other = await open();
      try {
        const mine: BusMessage[] = [];
        const theirs: BusMessage[] = [];
        await consume({ groupId, topics: [topic], handler: async (m) => void mine.push(m) });
        const second = await other.consume({ groupId, topics: [topic], handler: async (m) => void theirs.push(m) });
        const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
        // Publish rounds until the group has settled on both members (a rebalance takes a heartbeat or two).
        for (let round = 0; !(mine.length > 0 && theirs.length > 0 && (await settled())); round++) {
          if (round > 100) throw new Error('the group never split between the two members');
          await bus.publish(topic, keys.map((key) => ({ key, value: JSON.stringify({ key, round }) })));
          await new Promise((r) => setTimeout(r, 200));
        }
        async function settled() {
          const lag = await bus.lag(groupId);
          return lag.length === 4 && lag.every((l) => l.lag === 0);
        }
        const lastRound = new Set([...mine, ...theirs].map((m) => m.partition));
        expect(lastRound.size).toBe(4);

        await second.stop();
        mine.length = 0;
        await bus.publish(topic, keys.map((key) => ({ key, value: JSON.stringify({ key, round: 'after' }) })));
        await until(() => new Set(mine.filter((m) => m.value.includes('"after"')).map((m) => m.key)).size === keys.length, 'the remaining member to take every partition');
        expect(new Set(mine.map((m) => m.partition)).size).toBe(4);
      } finally {
        await other.close();
      }
    });

    it('tells each member the partitions it holds: one of two holds a one-partition topic, the other takes it when it stops', async () => {
      const topic = unique('lease');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      const other = await open();
      try {
        const held = { mine: [] as TopicPartition[], theirs: [] as TopicPartition[] };
        const handler = async () => {};
        const first = await consume({ groupId, topics: [topic], handler, onAssignment: (p) => void (held.mine = p) });
        await until(() => held.mine.length === 1, 'the first member to hold the partition', 30_000);
        expect(held.mine).toEqual([{ topic, partition: 0 }]);
        const second = await other.consume({ groupId, topics: [topic], handler, onAssignment: (p) => void (held.theirs = p) });
        // Whoever the group settles on, never both at once once it has settled.
        await new Promise((r) => setTimeout(r, 3_000));
        await until(() => held.mine.length + held.theirs.length === 1, 'exactly one member to hold the partition', 30_000);
        const holder = held.mine.length === 1 ? first : second;
        await holder.stop();
        const rest = holder === first ? 'theirs' : 'mine';
        await until(() => held[rest].length === 1, 'the other member to take the partition over', 30_000);
        expect(holder === first ? held.mine : held.theirs).toEqual([]);
      } finally {
        await other.close();
      }
    });

    it('tells each member the partitions it holds: assigned before their messages, revoked when handed over', async () => {
      const topic = unique('owned');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 4 }]);
      const other = await open();
      const outside: string[] = [];
      const member = (name: string) => {
        const held = new Set<number>();
        return {
          held,
          options: {
            groupId,
            topics: [topic],
            handler: async (m: BusMessage) => {
              if (!held.has(m.partition)) outside.push(`${name} got partition ${m.partition} holding ${[...held].join(',')}`);
            },
            onAssigned: (parts: { topic: string; partition: number }[]) => parts.forEach((p) => p.topic === topic && held.add(p.partition)),
            onRevoked: (parts: { topic: string; partition: number }[]) => parts.forEach((p) => p.topic === topic && held.delete(p.partition)),
          },
        };
      };
      const a = member('a');
      const b = member('b');
      const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
      try {
        await consume(a.options);
        const second = await other.consume(b.options);
        const split = () => a.held.size > 0 && b.held.size > 0 && a.held.size + b.held.size === 4 && [...a.held].every((p) => !b.held.has(p));
        for (let round = 0; !split(); round++) {
          if (round > 100) throw new Error(`the group never split: a holds ${[...a.held]}, b holds ${[...b.held]}`);
          await bus.publish(topic, keys.map((key) => ({ key, value: JSON.stringify({ key, round }) })));
          await new Promise((r) => setTimeout(r, 200));
        }
        await second.stop();
        expect(b.held.size).toBe(0);
        await until(() => a.held.size === 4, 'the remaining member to be assigned every partition');
        await bus.publish(topic, keys.map((key) => ({ key, value: JSON.stringify({ key, round: 'after' }) })));
        await until(async () => (await bus.lag(groupId)).every((l) => l.lag === 0), 'the remaining member to consume everything');
        expect(outside).toEqual([]);
      } finally {
        await other.close();
      }
    });

    it('replays from the earliest offset, or skips to the latest, after resetOffsets', async () => {
      const topic = unique('replay');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 2 }]);
      const messages = numbered(['x', 'y', 'z'], 3);
      await bus.publish(topic, messages);
      const first = await collect(groupId, topic, messages.length);
      await expect(bus.resetOffsets(groupId, topic, 'earliest')).rejects.toThrow();
      await first.consumer.stop();

      await bus.resetOffsets(groupId, topic, 'earliest');
      const replay = await collect(groupId, topic, messages.length);
      expect(replay.received.map((m) => m.value).sort()).toEqual(messages.map((m) => m.value).sort());
      await replay.consumer.stop();

      await bus.resetOffsets(groupId, topic, 'latest');
      await bus.publish(topic, [{ key: 'x', value: '"after-reset"' }]);
      const latest = await collect(groupId, topic, 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(latest.received.map((m) => m.value)).toEqual(['"after-reset"']);
    });

    it('reports lag per partition from committed and end offsets', async () => {
      const topic = unique('lag');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 2 }]);
      const keys = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
      const firstBatch = numbered(keys, 2);
      await bus.publish(topic, firstBatch);
      const { consumer } = await collect(groupId, topic, firstBatch.length);
      await consumer.stop();
      const laterBatch = numbered(keys, 1);
      await bus.publish(topic, laterBatch);

      const count = (ms: { key: string }[], p: number) => ms.filter((m) => partitionForKey(m.key, 2) === p).length;
      const expected = [0, 1].map((partition) => ({
        topic,
        partition,
        committed: count(firstBatch, partition),
        end: count(firstBatch, partition) + count(laterBatch, partition),
        lag: count(laterBatch, partition),
      }));
      expect(await bus.lag(groupId)).toEqual(expected);
    });

    it('keeps nothing of an ephemeral group once it stops', async () => {
      const topic = unique('ephemeral');
      const groupId = unique('control');
      await bus.createTopics([{ name: topic, partitions: 2 }]);
      await bus.publish(topic, [{ key: 'k', value: '"hello"' }]);
      const { consumer } = await collect(groupId, topic, 1, { ephemeral: true });
      await until(async () => (await bus.lag(groupId)).length > 0, `${groupId} to show in lag while it runs`);
      await consumer.stop();
      expect(await bus.lag(groupId)).toEqual([]);
    });

    it('stores a publisher checkpoint with its messages', async () => {
      const topic = unique('checkpoint');
      const checkpoint = unique('relay');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      expect(await bus.readCheckpoint(checkpoint)).toBeUndefined();
      await bus.publish(topic, [{ key: 'k', value: '1' }], { checkpoint: { name: checkpoint, value: '41' } });
      await bus.publishMany([{ topic, messages: [{ key: 'k', value: '2' }] }], { checkpoint: { name: checkpoint, value: '42' } });
      expect(await bus.readCheckpoint(checkpoint)).toBe('42');
      const { received } = await collect(unique('g'), topic, 2);
      expect(received.map((m) => m.value)).toEqual(['1', '2']);
    });

    it('processes a batch handler in order and commits once per batch', async () => {
      const topic = unique('batch');
      const groupId = unique('g');
      await bus.createTopics([{ name: topic, partitions: 1 }]);
      await bus.publish(topic, numbered(['k'], 30));
      const batches: number[][] = [];
      await consume({
        groupId,
        topics: [topic],
        maxBatchSize: 10,
        batchHandler: async (ms) => {
          batches.push(ms.map((m) => m.offset));
        },
      });
      await until(() => batches.flat().length === 30, 'all batches');
      expect(batches.flat()).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(batches.every((b) => b.length <= 10)).toBe(true);
      await until(async () => (await bus.lag(groupId))[0]?.committed === 30, 'commit');
    });
  });
}

/** Polls until the condition holds, or fails naming what it waited for. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
