import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { messageBusContract, until } from './contract';
import { openSqliteMessageBus } from './sqlite';
import { CheckpointMovedError, type BusMessage } from './port';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bus-'));

// One file for the contract's buses: its two-member test opens a second connection to the same log.
const contractDir = tempDir();
messageBusContract('sqlite', () => openSqliteMessageBus({ dataDir: contractDir }));

describe('sqlite message bus', () => {
  it('keeps messages, offsets and checkpoints across a reopen', async () => {
    const dataDir = tempDir();
    const first = await openSqliteMessageBus({ dataDir });
    await first.createTopics([{ name: 't', partitions: 2 }]);
    await first.publish('t', [1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: String(i) })), { checkpoint: { name: 'relay', value: '4' } });
    const seen: BusMessage[] = [];
    const consumer = await first.consume({ groupId: 'g', topics: ['t'], handler: async (m) => void seen.push(m) });
    await until(() => seen.length === 4, 'first four');
    await consumer.stop();
    await first.publish('t', [{ key: 'k5', value: '5' }]);
    const lagBefore = await first.lag('g');
    await first.close();

    const second = await openSqliteMessageBus({ dataDir });
    expect(await second.readCheckpoint('relay')).toBe('4');
    expect(await second.lag('g')).toEqual(lagBefore);
    const after: BusMessage[] = [];
    await second.consume({ groupId: 'g', topics: ['t'], handler: async (m) => void after.push(m) });
    await until(() => after.length === 1, 'the fifth');
    await new Promise((r) => setTimeout(r, 100));
    expect(after.map((m) => m.value)).toEqual(['5']);
    await second.close();
  });

  it('delivers what is published to a partition while its worker is handling a batch, and wakes only that partition', async () => {
    const bus = await openSqliteMessageBus({ dataDir: tempDir() });
    await bus.createTopics([{ name: 'w', partitions: 1 }, { name: 'other', partitions: 1 }]);
    const seen: string[] = [];
    let handledOnOther = 0;
    await bus.consume({
      groupId: 'g',
      topics: ['w'],
      handler: async (m) => {
        seen.push(m.value);
        // Published while this (short) batch is handled: the worker must look again, not sleep.
        if (m.value === '1') await bus.publish('w', [{ key: 'k', value: '2' }]);
      },
    });
    await bus.consume({ groupId: 'h', topics: ['other'], handler: async () => void handledOnOther++ });
    await bus.publish('w', [{ key: 'k', value: '1' }]);
    await until(() => seen.length === 2, 'both messages');
    expect(seen).toEqual(['1', '2']);
    expect(handledOnOther).toBe(0);
    expect((await bus.lag('g')).map((l) => l.lag)).toEqual([0]);
    await bus.close();
  });

  // The bus's reads are synchronous and a handler like this one settles at once: without a turn of the loop between
  // batches, a backlog was handled in one microtask chain and no timer or request ran until it ended.
  it('lets timers run while a consumer works through a backlog', async () => {
    const bus = await openSqliteMessageBus({ dataDir: tempDir() });
    await bus.createTopics([{ name: 'backlog', partitions: 1 }]);
    const total = 5_000;
    for (let i = 0; i < total; i += 500) {
      await bus.publish('backlog', Array.from({ length: 500 }, (_, j) => ({ key: 'k', value: String(i + j) })));
    }
    let handled = 0;
    const seenByTimer: number[] = [];
    const tick = setInterval(() => seenByTimer.push(handled), 1);
    const consumer = await bus.consume({ groupId: 'g', topics: ['backlog'], maxBatchSize: 100, handler: async () => void handled++ });
    try {
      await until(() => handled === total, 'the backlog to be handled', 30_000);
      const during = seenByTimer.filter((n) => n > 0 && n < total);
      console.log(`sqlite bus: a 1 ms timer ran ${during.length} times while a consumer handled a backlog of ${total}`);
      expect(during.length).toBeGreaterThan(0);
    } finally {
      clearInterval(tick);
      await consumer.stop();
      await bus.close();
    }
  });

  it('interleaves in order what this connection and another one publish to a partition', async () => {
    const dataDir = tempDir();
    const here = await openSqliteMessageBus({ dataDir, pollMs: 5 });
    const elsewhere = await openSqliteMessageBus({ dataDir, pollMs: 5 });
    await here.createTopics([{ name: 'x', partitions: 1 }]);
    await here.publish('x', [{ key: 'k', value: '1' }]);
    await elsewhere.publish('x', [{ key: 'k', value: '2' }]);
    await here.publish('x', [{ key: 'k', value: '3' }]);
    const seen: string[] = [];
    await here.consume({ groupId: 'g', topics: ['x'], handler: async (m) => void seen.push(m.value) });
    await until(() => seen.length === 3, 'the first three');
    // Published by the other connection right after one from here: read from the log, not missed.
    await here.publish('x', [{ key: 'k', value: '4' }]);
    await elsewhere.publish('x', [{ key: 'k', value: '5' }]);
    await until(() => seen.length === 5, 'all five');
    expect(seen).toEqual(['1', '2', '3', '4', '5']);
    await elsewhere.close();
    await here.close();
  });

  it('rolls back messages and checkpoint together when a publish fails', async () => {
    const bus = await openSqliteMessageBus({ dataDir: tempDir() });
    await bus.publish('a', [{ key: 'k', value: '1' }], { checkpoint: { name: 'cp', value: '1' } });
    const bad = { key: 'k', value: null as unknown as string };
    await expect(
      bus.publishMany([{ topic: 'a', messages: [{ key: 'k', value: '2' }] }, { topic: 'b', messages: [bad] }], {
        checkpoint: { name: 'cp', value: '2' },
      }),
    ).rejects.toThrow();
    expect(await bus.readCheckpoint('cp')).toBe('1');
    await bus.resetOffsets('probe', 'a', 'latest');
    expect((await bus.lag('probe')).map((l) => l.end).reduce((a, b) => a + b)).toBe(1);
    await bus.close();
  });

  it('publishes asked for in one turn share a commit, and each gets the answer it would get alone', async () => {
    const bus = await openSqliteMessageBus({ dataDir: tempDir(), defaultPartitions: 1 });
    const settle = (ps: Promise<void>[]) => Promise.allSettled(ps).then((rs) => rs.map((r) => (r.status === 'fulfilled' ? 'ok' : r.reason)));
    // One turn: a first checkpoint, a stale expectation (another instance went on), a plain publish.
    const first = await settle([
      bus.publish('a', [{ key: 'k', value: 'r1' }], { checkpoint: { name: 'relay', value: 'p1', expected: null } }),
      bus.publish('a', [{ key: 'k', value: 'stale' }], { checkpoint: { name: 'relay', value: 'p9', expected: 'p0' } }),
      bus.publish('b', [{ key: 'k', value: 'plain' }]),
    ]);
    expect(first[0]).toBe('ok');
    expect(first[1]).toBeInstanceOf(CheckpointMovedError);
    expect(first[2]).toBe('ok');
    // One turn with a publish that fails on its own content: the group is tried one by one, only that one fails.
    const second = await settle([
      bus.publish('a', [{ key: 'k', value: 'r2' }], { checkpoint: { name: 'relay', value: 'p2', expected: 'p1' } }),
      bus.publish('b', [{ key: 'k', value: null as unknown as string }]),
      bus.publish('b', [{ key: 'k', value: 'plain2' }]),
    ]);
    expect(second[0]).toBe('ok');
    expect(second[1]).toBeInstanceOf(Error);
    expect(second[2]).toBe('ok');
    expect(await bus.readCheckpoint('relay')).toBe('p2');
    const seen: string[] = [];
    const consumer = await bus.consume({ groupId: 'g', topics: ['a', 'b'], handler: async (m) => void seen.push(`${m.topic}:${m.value}`) });
    await until(() => seen.length >= 4, 'the four published messages');
    expect(seen.sort()).toEqual(['a:r1', 'a:r2', 'b:plain', 'b:plain2']);
    await consumer.stop();
    await bus.close();
  });

  it('auto-creates an unknown topic on publish with defaultPartitions', async () => {
    const bus = await openSqliteMessageBus({ dataDir: tempDir(), defaultPartitions: 3 });
    await bus.publish('fresh', [{ key: 'k', value: '1' }]);
    await bus.resetOffsets('probe', 'fresh', 'earliest');
    expect((await bus.lag('probe')).map((l) => l.partition)).toEqual([0, 1, 2]);
    await bus.close();
  });
});

interface ChildMessage {
  value: string;
  partition: number;
  offset: number;
  at: number;
}

/** Starts a consumer in another process on the same bus file. */
async function consumerProcess(
  dataDir: string,
  groupId: string,
  topic: string,
  membership?: { heartbeatMs: number; leaseTtlMs: number },
  ephemeral = false,
) {
  const script = path.join(import.meta.dirname, 'sqlite.consumer-process.ts');
  const args = ['--import', 'tsx', script, dataDir, groupId, topic, JSON.stringify(membership ?? { heartbeatMs: 100, leaseTtlMs: 600 }), ...(ephemeral ? ['ephemeral'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const received: ChildMessage[] = [];
  let ready = false;
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line) received.push(JSON.parse(line) as ChildMessage);
    }
  });
  await until(() => ready, 'the consumer process to start', 30_000);
  return { child, received };
}

describe('sqlite message bus shared by two processes', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  const membership = { heartbeatMs: 100, leaseTtlMs: 600 };

  it('delivers to a consumer in another process within milliseconds of the publish', async () => {
    const dataDir = tempDir();
    const bus = await openSqliteMessageBus({ dataDir, membership });
    await bus.createTopics([{ name: 't', partitions: 2 }]);
    const { child, received } = await consumerProcess(dataDir, 'g', 't');
    children.push(child);
    await new Promise((r) => setTimeout(r, 300));

    const sentAt = Date.now();
    await bus.publish('t', [{ key: 'a', value: '"hello"' }]);
    await until(() => received.length === 1, 'the other process to get the message');
    expect(received.map((m) => m.value)).toEqual(['"hello"']);
    expect(received[0]!.at - sentAt).toBeLessThan(250);
    await bus.close();
  });

  it('splits a group\'s partitions between processes, and takes over those of a dead member', async () => {
    const dataDir = tempDir();
    const bus = await openSqliteMessageBus({ dataDir, membership });
    await bus.createTopics([{ name: 't', partitions: 4 }]);
    const mine: BusMessage[] = [];
    await bus.consume({ groupId: 'g', topics: ['t'], handler: async (m) => void mine.push(m) });
    const other = await consumerProcess(dataDir, 'g', 't');
    children.push(other.child);
    await new Promise((r) => setTimeout(r, 1_000));

    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await bus.publish('t', keys.map((key) => ({ key, value: JSON.stringify(key) })));
    await until(() => mine.length + other.received.length >= 40, 'both processes to drain the topic');
    await new Promise((r) => setTimeout(r, 200));

    const values = [...mine.map((m) => m.value), ...other.received.map((m) => m.value)].sort();
    expect(values).toEqual(keys.map((k) => JSON.stringify(k)).sort());
    expect(mine.length).toBeGreaterThan(0);
    expect(other.received.length).toBeGreaterThan(0);
    const minePartitions = new Set(mine.map((m) => m.partition));
    expect(other.received.filter((m) => minePartitions.has(m.partition))).toEqual([]);

    other.child.kill('SIGKILL');
    mine.length = 0;
    await bus.publish('t', keys.map((key) => ({ key, value: JSON.stringify(`${key}-after`) })));
    await until(() => new Set(mine.map((m) => m.value)).size === 40, 'this process to take over the dead member\'s partitions');
    expect([...new Set(mine.map((m) => m.value))].sort()).toEqual(keys.map((k) => JSON.stringify(`${k}-after`)).sort());
    await bus.close();
  });

  it('drops the ephemeral groups of SIGKILLed processes once their leases ran out, and keeps a durable group\'s offsets', async () => {
    const dataDir = tempDir();
    const bus = await openSqliteMessageBus({ dataDir, membership });
    await bus.createTopics([{ name: 'control', partitions: 1 }]);
    await bus.publish('control', [{ key: 'k', value: '"hello"' }]);
    const dead = await consumerProcess(dataDir, 'control.dead', 'control', membership, true);
    const durable = await consumerProcess(dataDir, 'durable.dead', 'control', membership);
    children.push(dead.child, durable.child);
    await until(() => dead.received.length === 1 && durable.received.length === 1, 'both processes to get the message');
    for (const c of [dead.child, durable.child]) {
      const gone = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await gone;
    }
    const rows = (groupId: string) => {
      const db = new Database(path.join(dataDir, 'bus.sqlite'), { readonly: true });
      try {
        const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE group_id = ?`).get(groupId) as { n: number }).n;
        return { offsets: count('bus_offsets'), members: count('bus_members'), leases: count('bus_leases') };
      } finally {
        db.close();
      }
    };
    // What a SIGKILL leaves behind: what every restart of a process with a per-start group used to add for good.
    expect(rows('control.dead')).toEqual({ offsets: 1, members: 1, leases: 1 });

    // A new ephemeral group starting before the dead one's lease ran out leaves it be (it could be starting, not dead)...
    const early = await bus.consume({ groupId: 'control.early', topics: ['control'], startFrom: 'latest', ephemeral: true, handler: async () => {} });
    expect(rows('control.dead').offsets).toBe(1);
    await early.stop();
    // ...and once it has, the next one drops it.
    await new Promise((r) => setTimeout(r, membership.leaseTtlMs + 200));
    const live = await bus.consume({ groupId: 'control.live', topics: ['control'], startFrom: 'latest', ephemeral: true, handler: async () => {} });
    expect(rows('control.dead')).toEqual({ offsets: 0, members: 0, leases: 0 });
    expect(rows('control.early')).toEqual({ offsets: 0, members: 0, leases: 0 });
    // A durable group's offsets outlive its members: its next member resumes from them.
    expect(await bus.lag('durable.dead')).toEqual([{ topic: 'control', partition: 0, committed: 1, end: 1, lag: 0 }]);
    expect(rows('control.live')).toMatchObject({ offsets: 1, members: 1 });
    await live.stop();
    expect(rows('control.live')).toEqual({ offsets: 0, members: 0, leases: 0 });
    await bus.close();
  });

  it('takes a SIGKILLed process\'s partitions at the next heartbeat, long before its leases would expire', async () => {
    // Leases of 20 s: waiting them out would fail the bound below by far.
    const slow = { heartbeatMs: 250, leaseTtlMs: 20_000 };
    const dataDir = tempDir();
    const bus = await openSqliteMessageBus({ dataDir, membership: slow });
    await bus.createTopics([{ name: 't', partitions: 4 }]);
    const mine: BusMessage[] = [];
    await bus.consume({ groupId: 'g', topics: ['t'], handler: async (m) => void mine.push(m) });
    const other = await consumerProcess(dataDir, 'g', 't', slow);
    children.push(other.child);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await until(async () => {
      // The other process holds some partitions once a message of its own reaches it.
      if (other.received.length > 0) return true;
      await bus.publish('t', keys.map((key) => ({ key, value: JSON.stringify(key) })));
      await new Promise((r) => setTimeout(r, 300));
      return other.received.length > 0;
    }, 'the other process to take its share');
    const gone = new Promise((resolve) => other.child.once('exit', resolve));
    other.child.kill('SIGKILL');
    await gone;
    const killedAt = Date.now();
    mine.length = 0;
    await bus.publish('t', keys.map((key) => ({ key, value: JSON.stringify(`${key}-after`) })));
    await until(() => new Set(mine.map((m) => m.value)).size === 40, 'this process to take over the dead member\'s partitions', 15_000);
    const tookMs = Date.now() - killedAt;
    console.log(`take-over after SIGKILL: ${tookMs} ms (heartbeat ${slow.heartbeatMs} ms, lease ${slow.leaseTtlMs} ms)`);
    expect(tookMs).toBeLessThan(3_000);
    await bus.close();
  });
});
