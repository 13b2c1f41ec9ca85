/**
 * Embedded bus throughput beside raw better-sqlite3 on the same machine in the same run, both
 * durable (each batch fsynced before the next is sent): publish (batches of 100, as the relay sends them) and consume (a group draining the topic
 * with a batch handler), each as messages/s and as a ratio of raw inserts of the same payloads
 * in the same batches. Run: `npx tsx bench/bus.bench.ts [messages]`.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { openSqliteConnection } from '@saga/platform/sqlite/connection';
import type { OutgoingMessage } from '@saga/platform/message-bus/port';

const BATCH = 100;

function payloads(count: number): OutgoingMessage[] {
  const streams = Array.from({ length: 200 }, () => `order-${randomUUID()}`);
  return Array.from({ length: count }, (_, i) => {
    const streamId = streams[i % streams.length]!;
    const event = {
      eventId: randomUUID(),
      type: 'OrderConfirmed',
      streamId,
      revision: Math.floor(i / streams.length),
      position: String((i + 1) * 10).padStart(16, '0'), // shaped like the embedded store's cursors
      data: { orderId: streamId.slice(6), confirmedAt: new Date(1_700_000_000_000 + i).toISOString() },
      metadata: { correlationId: streamId.slice(6), causationId: randomUUID(), schemaVersion: 1, occurredAt: new Date().toISOString() },
    };
    return { key: streamId, value: JSON.stringify(event) };
  });
}

async function rawInsertPerSec(dir: string, messages: OutgoingMessage[]): Promise<number> {
  // Opened as the bus opens its file (same pragmas, checkpoints from a worker thread), so
  // the ratio is the bus's own cost.
  const connection = openSqliteConnection(path.join(dir, 'raw.sqlite'), { busyTimeoutMs: 10_000 });
  const db = connection.db;
  db.exec('CREATE TABLE raw (id INTEGER PRIMARY KEY, key TEXT NOT NULL, value TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO raw (key, value) VALUES (?, ?)');
  const insertBatch = db.transaction((batch: OutgoingMessage[]) => {
    for (const m of batch) insert.run(m.key, m.value);
  });
  const started = performance.now();
  // Each batch is made durable as the bus makes a publish (an fsync of the WAL), so the ratio compares like with like.
  for (let i = 0; i < messages.length; i += BATCH) {
    insertBatch.immediate(messages.slice(i, i + BATCH));
    await connection.sync();
  }
  const seconds = (performance.now() - started) / 1000;
  await connection.close();
  return messages.length / seconds;
}

export async function runBusBench(opts: { messages: number }): Promise<{ publishPerSec: number; consumePerSec: number; rawInsertPerSec: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bus-bench-'));
  try {
    const messages = payloads(opts.messages);
    const rawInsert = await rawInsertPerSec(dir, messages);

    const bus = await openSqliteMessageBus({ dataDir: path.join(dir, 'bus') });
    await bus.createTopics([{ name: 'bench', partitions: 4 }]);
    let started = performance.now();
    for (let i = 0; i < messages.length; i += BATCH) await bus.publish('bench', messages.slice(i, i + BATCH));
    const publishPerSec = messages.length / ((performance.now() - started) / 1000);

    let received = 0;
    let done!: () => void;
    const drained = new Promise<void>((resolve) => (done = resolve));
    started = performance.now();
    const consumer = await bus.consume({
      groupId: 'bench',
      topics: ['bench'],
      maxBatchSize: 500,
      batchHandler: async (batch) => {
        received += batch.length;
        if (received >= messages.length) done();
      },
    });
    await drained;
    const consumePerSec = messages.length / ((performance.now() - started) / 1000);
    await consumer.stop();
    await bus.close();
    return { publishPerSec, consumePerSec, rawInsertPerSec: rawInsert };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const messages = Number(process.argv[2] ?? 50_000);
  const r = await runBusBench({ messages });
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(10);
  console.log(`bus bench, ${messages} messages of ~${payloads(1)[0]!.value.length} bytes, batches of ${BATCH}`);
  console.log(`raw better-sqlite3 insert ${fmt(r.rawInsertPerSec)} msg/s`);
  console.log(`bus publish               ${fmt(r.publishPerSec)} msg/s  ratio ${(r.publishPerSec / r.rawInsertPerSec).toFixed(2)}`);
  console.log(`bus consume               ${fmt(r.consumePerSec)} msg/s  ratio ${(r.consumePerSec / r.rawInsertPerSec).toFixed(2)}`);
}
