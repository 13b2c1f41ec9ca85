import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { openSqliteEventStore } from '../event-store/sqlite';
import type { EventStore } from '../event-store/port';
import { openSqliteMessageBus } from '../message-bus/sqlite';
import type { BusMessage, MessageBus } from '../message-bus/port';
import { openSqliteDocumentStore } from '../document-store/sqlite';
import { WalSync } from './wal-sync';

/**
 * Power-cut safety is "nobody is answered or handed a commit before an fsync that started after
 * it has finished". The fsyncs are held here (fs.fdatasync replaced by one that waits to be
 * released), so a test can look at what the adapters do while a commit is not on disk yet.
 */
const held: { fd: number; done: (error: NodeJS.ErrnoException | null) => void }[] = [];
const realFdatasync = fs.fdatasync;
const hold = () =>
  vi.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, done: (error: NodeJS.ErrnoException | null) => void) => {
    held.push({ fd, done });
  }) as typeof fs.fdatasync);
/** Lets every held fsync really run, and those started meanwhile too, until none is held. */
async function releaseAll(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await tick();
    const batch = held.splice(0);
    if (batch.length === 0) return;
    for (const h of batch) realFdatasync(h.fd, h.done);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const tick = () => new Promise((r) => setImmediate(r));
const settledState = async (p: Promise<unknown>) => {
  let state = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await tick();
  await tick();
  return state;
};

const dirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-sync-'));
  dirs.push(dir);
  return dir;
};
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await releaseAll();
  vi.restoreAllMocks();
  for (const close of closers.splice(0).reverse()) await close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const placed = (orderId: string): NewEvent =>
  ({
    eventId: randomUUID(),
    type: 'OrderPlaced',
    data: {
      orderId,
      customerId: 'cust-1',
      customerEmail: 'ann@example.com',
      items: [{ sku: 'MUG-001', name: 'Mug', quantity: 1, unitPrice: 1250 }],
      total: 1250,
      currency: 'EUR',
      payment: { method: 'card', token: 'tok_abc', last4: '4242' },
      placedAt: '2026-01-02T03:04:05.000Z',
    },
    metadata: { correlationId: orderId, causationId: `cmd-${orderId}`, userId: 'user-1' },
  }) as NewEvent;

/** A one-partition bus with a consumer of topic `t` collecting what it is handed, then every fsync held. */
async function busWithHeldSyncs(): Promise<{ bus: MessageBus; got: BusMessage[]; consumer: { stop(): Promise<void> } }> {
  const bus = await openSqliteMessageBus({ dataDir: tempDir(), defaultPartitions: 1 });
  closers.push(() => bus.close());
  const got: BusMessage[] = [];
  const consumer = await bus.consume({ groupId: 'g', topics: ['t'], handler: async (m) => void got.push(m) });
  await tick();
  hold();
  return { bus, got, consumer };
}

describe('WalSync (group commit)', () => {
  it('answers a sync only with an fsync that started after it, at most two at a time, one answering every sync asked for meanwhile', async () => {
    const dir = tempDir();
    const wal = path.join(dir, 'x.sqlite-wal');
    fs.writeFileSync(wal, 'frames');
    const sync = new WalSync(wal);
    closers.push(() => sync.close());
    hold();

    const first = sync.sync();
    await tick();
    expect(held).toHaveLength(1);
    // Asked while the first fsync runs, which may have started before these commits: a second starts for them.
    const second = Array.from({ length: 10 }, () => sync.sync());
    await tick();
    expect(held).toHaveLength(2);
    // Two are running: these wait for the next to start.
    const third = Array.from({ length: 5 }, () => sync.sync());
    await tick();
    expect(held).toHaveLength(2);

    const [h1, h2] = held.splice(0, 2);
    realFdatasync(h2!.fd, h2!.done);
    await Promise.all(second);
    expect(await settledState(first)).toBe('pending');
    expect(await settledState(Promise.all(third))).toBe('pending');
    // One fsync, started now, for all five.
    expect(held).toHaveLength(1);
    realFdatasync(h1!.fd, h1!.done);
    await first;
    expect(await settledState(Promise.all(third))).toBe('pending');
    await releaseAll();
    expect(await settledState(Promise.all(third))).toBe('resolved');
  });

  it('fails every sync under way, waiting and later once an fsync failed', async () => {
    const dir = tempDir();
    const wal = path.join(dir, 'x.sqlite-wal');
    fs.writeFileSync(wal, 'frames');
    const sync = new WalSync(wal);
    closers.push(() => sync.close());
    hold();
    const first = sync.sync();
    await tick();
    const second = sync.sync();
    await tick();
    expect(held).toHaveLength(2);
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    // The first fails: the second, still running, cannot be trusted either.
    held.shift()!.done(eio);
    await expect(first).rejects.toThrow('EIO');
    await expect(second).rejects.toThrow('EIO');
    await expect(sync.sync()).rejects.toThrow('EIO');
    held.shift()!.done(null);
  });
});

describe('embedded stores answer and hand out a commit only once it is on disk', () => {
  it('event store: the append waits for its fsync, and a subscriber and a reader get the event only after it', async () => {
    const store: EventStore = await openSqliteEventStore({ dataDir: tempDir() });
    closers.push(() => store.close());
    const seen: string[] = [];
    const sub = store.subscribeToAll();
    void (async () => {
      for await (const e of sub) seen.push(e.streamId);
    })();
    await tick();
    hold();

    const append = store.append('order-a', [placed('a')]);
    await tick();
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(await settledState(append)).toBe('pending');
    const read = store.readStream('order-a');
    expect(await settledState(read)).toBe('pending');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([]);

    await releaseAll();
    await append;
    expect((await read).map((e) => e.streamId)).toEqual(['order-a']);
    await vi.waitFor(() => expect(seen).toEqual(['order-a']));
    await sub.close();
  });

  it('message bus: the publish waits for its fsync, and a consumer is handed the message only after it', async () => {
    const { bus, got, consumer } = await busWithHeldSyncs();

    const publish = bus.publish('t', [{ key: 'k', value: 'v1' }]);
    await tick();
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(await settledState(publish)).toBe('pending');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([]);

    await releaseAll();
    await publish;
    await vi.waitFor(() => expect(got.map((m) => m.value)).toEqual(['v1']));
    await consumer.stop();
  });

  it('message bus: a follower\'s copy (a publish with its checkpoint) is handed out without waiting for an fsync; a plain publish still waits', async () => {
    const { bus, got, consumer } = await busWithHeldSyncs();

    await bus.publishMany([{ topic: 't', messages: [{ key: 'k', value: 'copy' }] }], { checkpoint: { name: 'relay', value: '7' } });
    await vi.waitFor(() => expect(got.map((m) => m.value)).toEqual(['copy']));
    expect(await bus.readCheckpoint('relay')).toBe('7');

    const plain = bus.publish('t', [{ key: 'k', value: 'command' }]);
    await tick();
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(await settledState(plain)).toBe('pending');
    await new Promise((r) => setTimeout(r, 50));
    expect(got.map((m) => m.value)).toEqual(['copy']);
    await releaseAll();
    await plain;
    await vi.waitFor(() => expect(got.map((m) => m.value)).toEqual(['copy', 'command']));
    await consumer.stop();
  });

  it('message bus: a follower\'s copy behind a plain publish not yet on disk, in one partition, waits for that sync', async () => {
    const { bus, got, consumer } = await busWithHeldSyncs();

    const plain = bus.publish('t', [{ key: 'k', value: 'command' }]);
    await tick();
    const copy = bus.publishMany([{ topic: 't', messages: [{ key: 'k', value: 'copy' }] }], { checkpoint: { name: 'relay', value: '8' } });
    await tick();
    expect(await settledState(plain)).toBe('pending');
    expect(await settledState(copy)).toBe('pending');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([]);
    await releaseAll();
    await Promise.all([plain, copy]);
    await vi.waitFor(() => expect(got.map((m) => m.value)).toEqual(['command', 'copy']));
    await consumer.stop();
  });

  it('document store: a write answers only after its fsync', async () => {
    const docs = await openSqliteDocumentStore({ dataDir: tempDir() });
    closers.push(() => docs.close());
    await docs.collection({ name: 'things', indexes: [] });
    hold();
    const write = docs.write([{ collection: 'things', op: 'put', doc: { id: 'x', n: 1 }, expectedVersion: 0 }], { things: '1' });
    await tick();
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(await settledState(write)).toBe('pending');
    await releaseAll();
    expect(await write).toEqual({ conflicts: [] });
  });
});
