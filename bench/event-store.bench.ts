/**
 * `npm run bench:event-store [-- --quick]`: the SQLite event store beside raw better-sqlite3
 * doing the same writes and reads on the same table shape with the same pragmas, in the same
 * run, interleaved in small chunks so a noisy neighbour on a shared machine hurts both alike.
 * Both files are opened the same way (platform/src/sqlite/connection.ts), so raw also gets
 * its WAL checkpoints from a worker thread: the ratio is the store's own cost.
 *
 * What "raw" does, so the ratio is honest:
 *  - appends: JSON.stringify data and metadata, then in one transaction insert the event row(s)
 *    and upsert the stream row: the same rows the store writes, without validation or the
 *    revision check; then, as the store does, wait for an fsync of the WAL (connection.sync).
 *  - global read: SELECT the whole log in position order and JSON.parse data and metadata into
 *    the same objects the store returns (a second line shows rows without parsing).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { CustomerId, OrderId, Sku } from '@saga/event-schemas/ids';
import { openSqliteEventStore, sqliteSchema } from '@saga/platform/event-store/sqlite';
import { openSqliteConnection } from '@saga/platform/sqlite/connection';
import type { EventStore } from '@saga/platform/event-store/port';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 5; // full reads of the log, each side
const SINGLE = quick ? 2_000 : 20_000; // single-event appends, each side
const BATCHES = quick ? 20 : 200; // 100-event appends, each side
const CONCURRENT_CALLERS = 50;
const PER_CALLER = quick ? 10 : 40;

const at = '2026-01-02T03:04:05.000Z';
let n = 0;
const orderPlaced = (orderId: string): NewEvent<'OrderPlaced'> => ({
  eventId: randomUUID(),
  type: 'OrderPlaced',
  data: {
    orderId: OrderId.parse(orderId),
    customerId: CustomerId.parse('cust-1'),
    customerEmail: 'ann@example.com',
    items: [
      { sku: Sku.parse('MUG-001'), name: 'Mug', quantity: 2, unitPrice: 1250 },
      { sku: Sku.parse('TEE-002'), name: 'T-shirt', quantity: 1, unitPrice: 1900 },
    ],
    total: 4400,
    currency: 'EUR',
    payment: { method: 'card', token: 'tok_abc', last4: '4242' },
    placedAt: at,
  },
  metadata: { correlationId: orderId, causationId: `cmd-${orderId}`, userId: 'user-1' },
});

function rawWriter(db: Database.Database) {
  const insertEvent = db.prepare('INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)');
  const write = db.transaction((streamId: string, events: NewEvent[]) => {
    const now = new Date().toISOString();
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const metadata = { ...e.metadata, schemaVersion: 2, occurredAt: now };
      insertEvent.run(streamId, i, e.eventId, e.type, JSON.stringify(e.data), JSON.stringify(metadata));
    }
  });
  return (streamId: string, events: NewEvent[]) => write.immediate(streamId, events);
}

const time = async (fn: () => unknown | Promise<unknown>) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

async function main() {
  const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'bench-event-store-'));
  const store: EventStore = await openSqliteEventStore({ dataDir: path.join(root, 'store') });
  const rawConnection = openSqliteConnection(path.join(root, 'raw.sqlite'), { busyTimeoutMs: 5_000 });
  const raw = rawConnection.db;
  raw.exec(sqliteSchema);
  const rawWrite = rawWriter(raw);

  // Events are built before the clock starts; both sides get fresh ids and streams. Work is
  // cut into small chunks that alternate store/raw (and who goes first), so load that comes
  // and goes on a shared machine lands on both sides alike.
  const single = { store: 0, raw: 0 };
  const batched = { store: 0, raw: 0 };
  const singleChunks = SINGLE / 100;
  for (let chunk = 0; chunk < singleChunks; chunk++) {
    const [a, b] = [0, 1].map(() => Array.from({ length: 100 }, () => orderPlaced(`o${++n}`)));
    const runStore = async () => {
      single.store += await time(async () => {
        for (const e of a!) await store.append(`order-${e.data.orderId}`, [e], { expectedRevision: 'no_stream' });
      });
    };
    const runRaw = async () => {
      single.raw += await time(async () => {
        for (const e of b!) {
          rawWrite(`order-${e.data.orderId}`, [e]);
          await rawConnection.sync();
        }
      });
    };
    if (chunk % 2 === 0) await runStore().then(runRaw);
    else await runRaw().then(runStore);
  }
  for (let chunk = 0; chunk < BATCHES; chunk++) {
    const [c, d] = [0, 1].map(() => Array.from({ length: 100 }, () => orderPlaced(`o${++n}`)));
    const runStore = async () => {
      batched.store += await time(() => store.append(`order-${c![0]!.data.orderId}`, c!, { expectedRevision: 'no_stream' }));
    };
    const runRaw = async () => {
      batched.raw += await time(async () => {
        rawWrite(`order-${d![0]!.data.orderId}`, d!);
        await rawConnection.sync();
      });
    };
    if (chunk % 2 === 0) await runStore().then(runRaw);
    else await runRaw().then(runStore);
  }

  // Full read of the global log: the same number of events on both sides.
  const total = await store.countEvents!();
  const rawCount = raw.prepare('SELECT count(*) FROM events').pluck().get() as number;
  const readAllRaw = raw.prepare('SELECT position, stream_id, revision, event_id, type, data, metadata FROM events ORDER BY position').raw(true);
  const read = { store: 0, raw: 0, rawRows: 0 };
  let storeCount = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const readStore = async () => {
      read.store += await time(async () => (storeCount = (await store.readAll()).length));
    };
    const readRaw = async () => {
      read.raw += await time(() =>
          (readAllRaw.all() as [number, string, number, string, string, string, string][]).map((row) => ({
            eventId: row[3],
            type: row[4],
            streamId: row[1],
            revision: row[2],
            position: row[0],
            data: JSON.parse(row[5]) as unknown,
            metadata: JSON.parse(row[6]) as unknown,
          })),
      );
    };
    if (r % 2 === 0) await readStore().then(readRaw);
    else await readRaw().then(readStore);
    read.rawRows += await time(() => readAllRaw.all());
  }

  // 50 callers at once: each appends to its own stream with exact revisions and to one shared
  // stream with `any`; every append must succeed.
  let failed = 0;
  let appended = 0;
  const concurrentSeconds = await time(() =>
    Promise.all(
      Array.from({ length: CONCURRENT_CALLERS }, async (_, caller) => {
        const own = `order-caller${caller}`;
        for (let i = 0; i < PER_CALLER; i++) {
          try {
            await store.append(own, [orderPlaced(`c${caller}x${i}`)], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
            await store.append('inventory-warehouse', [orderPlaced(`c${caller}y${i}`)], { expectedRevision: 'any' });
            appended += 2;
          } catch (err) {
            failed++;
            console.error(err);
          }
        }
      }),
    ),
  );
  const sharedRevision = await store.streamRevision('inventory-warehouse');

  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  const rows = [
    ['append 1 event to a new stream (no_stream check)', 'appends/s', SINGLE / single.store, SINGLE / single.raw, 0.6],
    ['append 100 events to a new stream', 'events/s', (BATCHES * 100) / batched.store, (BATCHES * 100) / batched.raw, 0.7],
    [`read the whole global log (${fmt(total)} events)`, 'events/s', (ROUNDS * total) / read.store, (ROUNDS * rawCount) / read.raw, 0.7],
  ] as const;
  console.log(`\nEvent store (SQLite, WAL, each append fsynced before it answers) vs raw (each write fsynced too) better-sqlite3, store and raw interleaved in small chunks${quick ? ' (--quick)' : ''}\n`);
  const header = ['case', 'unit', 'store', 'raw', 'ratio', 'aim', ''];
  const body = rows.map(([name, unit, s, r, aim]) => [name, unit, fmt(s), fmt(r), (s / r).toFixed(2), `>= ${aim}`, s / r >= aim ? 'ok' : 'BELOW AIM']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  console.log(
    `\n(raw rows without JSON.parse: ${fmt((ROUNDS * rawCount) / read.rawRows)} events/s; the store's read is ${(read.rawRows / read.store).toFixed(2)} of that)`,
  );
  console.log(
    `${CONCURRENT_CALLERS} concurrent callers: ${appended} appends in ${concurrentSeconds.toFixed(2)} s, ${failed} failed; ` +
      `shared stream at revision ${sharedRevision} (expected ${CONCURRENT_CALLERS * PER_CALLER - 1})`,
  );
  if (storeCount !== total || rawCount !== total) console.log(`note: counts differ (store read ${storeCount}, head ${total}, raw ${rawCount})`);

  await store.close();
  await rawConnection.close();
  fs.rmSync(root, { recursive: true, force: true });
  if (failed > 0 || sharedRevision !== CONCURRENT_CALLERS * PER_CALLER - 1) process.exitCode = 1;
}

await main();
