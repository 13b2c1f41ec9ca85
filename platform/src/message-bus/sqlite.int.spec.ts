import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { messageBusContract, until } from './contract';
import { openSqliteMessageBus } from './sqlite';
import type { BusMessage } from './port';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bus-'));

messageBusContract('sqlite', () => openSqliteMessageBus({ dataDir: tempDir() }));

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

  it('auto-creates an unknown topic on publish with defaultPartitions', async () => {
    const bus = await openSqliteMessageBus({ dataDir: tempDir(), defaultPartitions: 3 });
    await bus.publish('fresh', [{ key: 'k', value: '1' }]);
    await bus.resetOffsets('probe', 'fresh', 'earliest');
    expect((await bus.lag('probe')).map((l) => l.partition)).toEqual([0, 1, 2]);
    await bus.close();
  });
});
