import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogPosition, NewEvent } from '@saga/event-schemas/envelope';
import { OrderId } from '@saga/event-schemas/ids';
import { ConflictError } from '../errors';
import { eventStoreContract } from './contract';
import { InvalidPositionError } from './port';
import { openSqliteEventStore } from './sqlite';

eventStoreContract('sqlite', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-store-'));
  const store = await openSqliteEventStore({ dataDir, pageSize: 50 });
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

describe('SQLite event store: the file, restarts and other processes', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-store-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  const at = '2026-01-02T03:04:05.000Z';
  const confirmed = (orderId = 'o1'): NewEvent<'OrderConfirmed'> => ({
    eventId: randomUUID(),
    type: 'OrderConfirmed',
    data: { orderId: OrderId.parse(orderId), confirmedAt: at },
    metadata: { correlationId: orderId, causationId: 'c', occurredAt: at },
  });

  /** Runs the fixture in a second Node process and collects its JSON lines. */
  const spawnOther = (...args: string[]) => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'sqlite-other-process.fixture.ts'), ...args], {
      cwd: path.resolve(here, '../../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const waitFor = async (predicate: (ls: Record<string, unknown>[]) => boolean, timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs;
      while (!predicate(lines)) {
        if (Date.now() > until || child.exitCode !== null) {
          if (predicate(lines)) break;
          throw new Error(`child did not get there (exit ${child.exitCode}); stderr: ${stderr}; lines: ${lines.length}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return lines;
    };
    return { child, lines, waitFor };
  };

  it('keeps every event, stream and revision across a close and reopen', async () => {
    const dataDir = tempDir();
    const first = await openSqliteEventStore({ dataDir });
    for (let i = 0; i < 10; i++) await first.append(`order-${i % 3}`, [confirmed(), confirmed()]);
    const before = await first.readAll();
    const streamsBefore = await first.listStreams();
    await first.close();

    const reopened = await openSqliteEventStore({ dataDir });
    expect(await reopened.readAll()).toEqual(before);
    expect(await reopened.listStreams()).toEqual(streamsBefore);
    expect(await reopened.listCategories()).toEqual([{ category: 'order', streams: 3 }]);
    expect(await reopened.streamRevision('order-0')).toBe(7);
    const next = await reopened.append('order-0', [confirmed()], { expectedRevision: 7 });
    expect(next.nextExpectedRevision).toBe(8);
    expect(next.position! > before[before.length - 1]!.position).toBe(true);
    await reopened.close();
  });

  it('keeps every acknowledged append when the writing process is killed', async () => {
    const dataDir = tempDir();
    const other = spawnOther('append', dataDir, 'order-crash', '40');
    const lines = await other.waitFor((ls) => ls.some((l) => l.kind === 'done'));
    other.child.kill('SIGKILL');
    await new Promise((r) => other.child.once('exit', r));
    const acked = lines.filter((l) => l.kind === 'acked').map((l) => l.eventId);
    expect(acked).toHaveLength(40);
    const store = await openSqliteEventStore({ dataDir });
    expect((await store.readStream('order-crash')).map((e) => e.eventId)).toEqual(acked);
    await store.close();
  });

  it('a second process reads and subscribes to the same file while this one appends, and its appends wake us', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir, pollMs: 10 });
    for (let i = 0; i < 10; i++) await store.append(`order-${i}`, [confirmed(), confirmed()]);
    const other = spawnOther('subscribe', dataDir, '120', 'email-from-child');
    // This process consumes live all along, so the child's append must wake a waiting pull.
    const mine = store.subscribeToAll();
    const iterator = mine[Symbol.asyncIterator]();
    const received: string[] = [];
    const consumer = (async () => {
      for (;;) {
        const r = await iterator.next();
        if (r.done) return;
        received.push(r.value.eventId);
        if (r.value.streamId === 'email-from-child') return;
      }
    })();
    await other.waitFor((ls) => ls.some((l) => l.kind === 'ready'));
    expect(other.lines[0]).toEqual({ kind: 'ready', existing: 20 });
    // Append while the other process catches up and goes live.
    for (let i = 0; i < 50; i++) {
      await store.append(`payment-${i % 7}`, [confirmed(), confirmed()]);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 15));
    }
    const lines = await other.waitFor((ls) => ls.some((l) => l.kind === 'appended'));
    const seen = lines.filter((l) => l.kind === 'event');
    const log = await store.readAll();
    expect(seen.map((l) => l.eventId)).toEqual(log.slice(0, 120).map((e) => e.eventId));
    expect(seen.map((l) => l.position)).toEqual(log.slice(0, 120).map((e) => e.position));

    // The child's own append reaches this process's live subscription through the poll.
    const appended = lines.find((l) => l.kind === 'appended')!;
    await consumer;
    expect(log).toHaveLength(121);
    expect(log[120]).toMatchObject({ eventId: appended.eventId, streamId: 'email-from-child', position: appended.position });
    expect(received).toEqual(log.map((e) => e.eventId));
    await mine.close();
    await store.close();
  });

  it('subscriptions read what this connection appended from memory, and never skip or repeat around another connection\'s appends or a failed one', async () => {
    const dataDir = tempDir();
    const mine = await openSqliteEventStore({ dataDir, pollMs: 5 });
    const other = await openSqliteEventStore({ dataDir, pollMs: 5 });
    const filter = { streamPrefixes: ['payment-'] };
    const collect = (sub: AsyncIterable<{ eventId: string }>, n: number) =>
      (async () => {
        const ids: string[] = [];
        for await (const e of sub) if (ids.push(e.eventId) === n) break;
        return ids;
      })();
    // 10 rounds of 5 events, and payment-x once.
    const all = collect(mine.subscribeToAll(), 51);
    const payments = collect(mine.subscribeToAll({ filter }), 31);
    const taken = confirmed();
    for (let i = 0; i < 10; i++) {
      await mine.append(`order-${i}`, [confirmed(), confirmed()]);
      await other.append(`payment-o${i}`, [confirmed()]);
      // A group commit with a conflicting append and a batch refused for a reused id: what they tried to write is never handed out.
      const results = await mine.appendMany!([
        { streamId: `payment-m${i}`, events: [confirmed(), confirmed()], expectedRevision: 'no_stream' },
        { streamId: `order-${i}`, events: [confirmed()], expectedRevision: 'no_stream' },
        ...(i === 0 ? [{ streamId: 'payment-x', events: [taken], expectedRevision: 'any' as const }] : []),
      ]);
      expect(results[1]).toBeInstanceOf(Error);
      if (i === 1) await expect(mine.append('order-dup', [confirmed(), taken])).rejects.toThrow();
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    const log = await mine.readAll();
    expect(log).toHaveLength(51);
    expect(await all).toEqual(log.map((e) => e.eventId));
    expect(await payments).toEqual(log.filter((e) => e.streamId.startsWith('payment-')).map((e) => e.eventId));
    expect(log.some((e) => e.streamId === 'order-dup')).toBe(false);
    await other.close();
    await mine.close();
  });

  it('reads a stored v1 OrderPlaced row as v2 on every read path (the upcaster fills in currency)', async () => {
    const dataDir = tempDir();
    const store = await openSqliteEventStore({ dataDir });
    const v1 = {
      orderId: 'legacy1',
      customerId: 'c1',
      customerEmail: 'ann@example.com',
      items: [{ sku: 'MUG-001', name: 'Mug', quantity: 1, unitPrice: 900 }],
      total: 900,
      payment: { method: 'card', token: 'tok_1', last4: '4242' },
      placedAt: at,
    };
    const eventId = randomUUID();
    // A row as the store wrote it before OrderPlaced had a currency.
    const raw = new Database(path.join(dataDir, 'events.sqlite'));
    raw
      .prepare("INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES ('order-legacy1', 0, ?, 'OrderPlaced', ?, ?)")
      .run(eventId, JSON.stringify(v1), JSON.stringify({ correlationId: 'legacy1', causationId: 'c', schemaVersion: 1, occurredAt: at }));
    raw.close();

    const expected = {
      eventId,
      type: 'OrderPlaced',
      streamId: 'order-legacy1',
      revision: 0,
      // The only row, so the head; its value is the store's to choose.
      position: await store.headPosition(),
      data: { ...v1, currency: 'USD' },
      metadata: { correlationId: 'legacy1', causationId: 'c', schemaVersion: 2, occurredAt: at },
    };
    expect(await store.readStream('order-legacy1')).toEqual([expected]);
    expect(await store.readAll()).toEqual([expected]);
    const all = store.subscribeToAll()[Symbol.asyncIterator]();
    expect((await all.next()).value).toEqual(expected);
    const one = store.subscribeToStream('order-legacy1')[Symbol.asyncIterator]();
    expect((await one.next()).value).toEqual(expected);
    await store.close();
  });

  it('hands out sparse positions, so a position computed from another is never an event', async () => {
    const store = await openSqliteEventStore({ dataDir: tempDir() });
    for (let i = 0; i < 5; i++) await store.append(`order-${i}`, [confirmed(), confirmed()]);
    const positions = (await store.readAll()).map((e) => e.position);
    expect(positions).toHaveLength(10);
    expect([...positions].sort()).toEqual(positions);
    for (let i = 1; i < positions.length; i++) expect(Number(positions[i]) - Number(positions[i - 1])).toBeGreaterThan(1);
    await expect(store.readAll({ after: String(Number(positions[3]) + 1) as LogPosition })).rejects.toBeInstanceOf(InvalidPositionError);
    expect(() => store.subscribeToAll({ after: `${positions[3]}1` as LogPosition })).toThrow(InvalidPositionError);
    await store.close();
  });

  it('lists categories and streams from the log alone, with ids that sort between a category and its dash', async () => {
    const store = await openSqliteEventStore({ dataDir: tempDir() });
    const ids = ['order-2', 'order', 'order+x', 'order.y', 'order-1', 'inventory-warehouse', 'order-1'];
    const positions = new Map<string, LogPosition | null>();
    for (const id of ids) positions.set(id, (await store.append(id, [confirmed()])).position);
    expect(await store.listCategories()).toEqual([
      { category: 'inventory', streams: 1 },
      { category: 'order', streams: 3 },
      { category: 'order+x', streams: 1 },
      { category: 'order.y', streams: 1 },
    ]);
    const page1 = await store.listStreams({ category: 'order', limit: 2 });
    expect(page1.streams.map((s) => [s.streamId, s.category, s.revision, s.lastPosition])).toEqual([
      ['order', 'order', 0, positions.get('order')],
      ['order-1', 'order', 1, positions.get('order-1')],
    ]);
    expect(page1.next).toBe('order-1');
    const page2 = await store.listStreams({ category: 'order', limit: 2, after: 'order-1' });
    expect(page2).toEqual({ streams: [expect.objectContaining({ streamId: 'order-2', revision: 0 })] });
    expect((await store.listStreams()).streams.map((s) => s.streamId)).toEqual(['inventory-warehouse', 'order', 'order+x', 'order-1', 'order-2', 'order.y']);
    expect((await store.listStreams({ limit: 5 })).next).toBe('order-2');
    expect(await store.listStreams({ category: 'payment' })).toEqual({ streams: [] });
    await store.close();
  });

  it('in a group commit, a retried single-event append with expected revision any is answered from the log and leaves the others applied', async () => {
    const store = await openSqliteEventStore({ dataDir: tempDir() });
    const [e1, e2, e3] = [confirmed(), confirmed(), confirmed()];
    const first = await store.appendMany!([
      { streamId: 'order-a', events: [e1], expectedRevision: 'any' },
      { streamId: 'order-b', events: [e2], expectedRevision: 'any' },
    ]);
    // The retry's INSERT of e1 fails on the event id; it must undo only itself.
    const again = await store.appendMany!([
      { streamId: 'order-a', events: [e1], expectedRevision: 'any' },
      { streamId: 'order-c', events: [e3], expectedRevision: 'no_stream' },
      { streamId: 'order-b', events: [e2], expectedRevision: 'any' },
    ]);
    const log = await store.readAll();
    expect(log.map((e) => [e.eventId, e.streamId, e.revision])).toEqual([
      [e1.eventId, 'order-a', 0],
      [e2.eventId, 'order-b', 0],
      [e3.eventId, 'order-c', 0],
    ]);
    expect(again).toEqual([first[0], { nextExpectedRevision: 0, position: log[2]!.position }, first[1]]);
    await store.close();
  });

  it('refuses to reuse event ids that are already stored, even with expected revision any', async () => {
    const store = await openSqliteEventStore({ dataDir: tempDir() });
    const e = confirmed();
    await store.append('order-1', [e, confirmed()]);
    await expect(store.append('order-1', [confirmed(), e])).rejects.toBeInstanceOf(ConflictError);
    await expect(store.append('order-2', [e])).rejects.toBeInstanceOf(ConflictError);
    const twice = confirmed();
    await expect(store.append('order-3', [twice, twice])).rejects.toBeInstanceOf(ConflictError);
    expect((await store.readAll()).length).toBe(2);
    expect(await store.streamRevision('order-3')).toBe(-1);
    await store.close();
  });

  it('a slow subscriber holds at most one page', async () => {
    const store = await openSqliteEventStore({ dataDir: tempDir(), pageSize: 25 });
    for (let i = 0; i < 10; i++) await store.append(`order-${i}`, Array.from({ length: 100 }, () => confirmed()));
    const sub = store.subscribeToAll();
    const iterator = sub[Symbol.asyncIterator]();
    let maxBuffered = 0;
    for (let i = 0; i < 1000; i++) {
      const r = await iterator.next();
      expect(r.done).toBe(false);
      maxBuffered = Math.max(maxBuffered, sub.buffered!);
    }
    expect(maxBuffered).toBe(24);
    await store.close();
    expect((await iterator.next()).done).toBe(true);
  });
});
