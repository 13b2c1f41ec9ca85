/**
 * `npm run bench:saga [-- --quick]`: orders per second that complete the whole saga (reserve,
 * charge, confirm, commit stock, email) with every service in one process on the embedded
 * stack (SQLite event store and bus in a temp dir, relay, the four command services and their
 * consumers, the saga runtime), then command-to-confirmed latency p50/p99 at half that rate,
 * beside the bare bus throughput measured in the same run (bench/bus.bench.ts).
 *
 * Orders are placed through the order handler (no HTTP: bench:commands measures that);
 * "confirmed" is when the OrderConfirmed event reaches a consumer of `events.order`, and
 * "completed" is SagaEnded on `events.saga`, both through the relay as any reader sees them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSagaRuntime } from '@saga/saga-orchestrator/runtime';
import { startEmbeddedStack, testCards } from '@saga/saga-orchestrator/embedded-stack.fixture';
import { runBusBench } from './bus.bench';

const quick = process.argv.includes('--quick');
const MAX_ORDERS = quick ? 1_000 : 4_000;
const LATENCY_MS = quick ? 2_000 : 5_000;
const IN_FLIGHT = 200;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function stack() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-saga-'));
  const system = await startEmbeddedStack({ dataDir, stepTimeoutMs: 30_000 });
  const { bus } = system;
  const saga = await startSagaRuntime({ store: system.store, bus, stepTimeoutMs: 30_000 });
  await system.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: 1_000_000 });

  const confirmedAt = new Map<string, number>();
  let completed = 0;
  const watchers = [
    await bus.consume({
      groupId: 'bench-watch-orders',
      topics: ['events.order'],
      batchHandler: async (messages) => {
        const now = performance.now();
        for (const m of messages) if (m.value.includes('"type":"OrderConfirmed"')) confirmedAt.set(JSON.parse(m.value).data.orderId, now);
      },
    }),
    await bus.consume({
      groupId: 'bench-watch-sagas',
      topics: ['events.saga'],
      batchHandler: async (messages) => {
        for (const m of messages) if (m.value.includes('"type":"SagaEnded"') && m.value.includes('"status":"completed"')) completed++;
      },
    }),
  ];

  let n = 0;
  const place = () => system.place({ orderId: `bench-${n++}`, card: testCards.approve, items: [{ sku: 'MUG-001', quantity: 1 }] });
  return {
    place,
    confirmedAt,
    completed: () => completed,
    async close() {
      for (const w of watchers) await w.stop();
      await saga.stop();
      await system.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** As many orders as the system takes, IN_FLIGHT placements at a time: completed sagas per second. */
async function maxRate(): Promise<number> {
  const s = await stack();
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < MAX_ORDERS) {
        next++;
        await s.place();
        // Keep placing from running far ahead of the sagas, so the figure is end to end.
        while (next - s.completed() > 4 * IN_FLIGHT) await sleep(2);
      }
    }),
  );
  const ok = await until(() => s.completed() >= MAX_ORDERS, 120_000);
  const seconds = (performance.now() - start) / 1000;
  const done = s.completed();
  await s.close();
  if (!ok) console.warn(`only ${done}/${MAX_ORDERS} sagas completed`);
  return done / seconds;
}

/** Orders placed at a steady rate: latency from placing to OrderConfirmed seen on the bus. */
async function latencyAt(ratePerSec: number): Promise<{ p50: number; p99: number; count: number }> {
  const s = await stack();
  const placedAt = new Map<string, number>();
  const total = Math.max(50, Math.round((ratePerSec * LATENCY_MS) / 1000));
  const start = performance.now();
  const placing: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / ratePerSec;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const t0 = performance.now();
    placing.push(s.place().then((id) => void placedAt.set(id, t0)));
  }
  await Promise.all(placing);
  await until(() => s.confirmedAt.size >= total, 60_000);
  const latencies = [...placedAt].flatMap(([id, t0]) => {
    const t1 = s.confirmedAt.get(id);
    return t1 === undefined ? [] : [t1 - t0];
  });
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  await s.close();
  return { p50: pct(50), p99: pct(99), count: latencies.length };
}

const bus = await runBusBench({ messages: quick ? 10_000 : 30_000 });
const rate = await maxRate();
const latency = await latencyAt(rate / 2);
const r = (x: number) => Math.round(x);
console.log(`bare bus (same run): publish ${r(bus.publishPerSec)} msg/s, consume ${r(bus.consumePerSec)} msg/s`);
console.log(`saga: ${r(rate)} orders/s completed end to end (${MAX_ORDERS} orders, every service in one process)`);
console.log(`saga: place -> confirmed at ${r(rate / 2)} orders/s: p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms (${latency.count} orders)`);
