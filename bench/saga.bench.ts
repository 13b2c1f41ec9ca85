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
 * An order counts only once both are seen. Each figure is measured twice: with the saga's
 * services alone (the issue's figure), and with the read-model projectors also running, as
 * `npm start` runs them. The bus messages an order costs (events and commands, counted from
 * the topics' offsets) give the saga's bus traffic beside the bare bus figure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSagaRuntime } from '@saga/saga-orchestrator/runtime';
import { startEmbeddedStack, testCards } from '@saga/saga-orchestrator/embedded-stack.fixture';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { allProjections } from '@saga/projections/projectors/registry';
import { createProjectorRunner } from '@saga/projections/projectors/runner';
import { runBusBench } from './bus.bench';

const quick = process.argv.includes('--quick');
const MAX_ORDERS = quick ? 1_000 : 4_000;
const LATENCY_MS = quick ? 2_000 : 5_000;
const IN_FLIGHT = 200;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Consumer groups that between them read every topic the saga pipeline writes. */
const trafficGroups = ['saga-orchestrator', 'order-service', 'inventory-service', 'payment-service', 'email-service', 'bench-watch-sagas'];

async function stack(options: { projectors: boolean }) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-saga-'));
  const system = await startEmbeddedStack({ dataDir, stepTimeoutMs: 30_000 });
  const { bus } = system;
  const saga = await startSagaRuntime({ store: system.store, bus, docs: system.docs, stepTimeoutMs: 30_000 });
  const docs = options.projectors ? await openSqliteDocumentStore({ dataDir }) : undefined;
  const runners = docs ? allProjections.map((projection) => createProjectorRunner({ bus, store: docs, projection })) : [];
  for (const runner of runners) await runner.start();
  await system.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: 1_000_000 });

  const confirmedAt = new Map<string, number>();
  const completed = new Set<string>();
  const watchers = [
    await bus.consume({
      groupId: 'bench-watch-orders',
      topics: ['events.order'],
      batchHandler: async (messages) => {
        const now = performance.now();
        for (const m of messages) {
          if (!m.value.includes('"type":"OrderConfirmed"')) continue;
          const orderId = JSON.parse(m.value).data.orderId as string;
          if (!confirmedAt.has(orderId)) confirmedAt.set(orderId, now);
        }
      },
    }),
    await bus.consume({
      groupId: 'bench-watch-sagas',
      topics: ['events.saga'],
      batchHandler: async (messages) => {
        for (const m of messages) {
          if (m.value.includes('"type":"SagaEnded"') && m.value.includes('"status":"completed"')) completed.add(JSON.parse(m.value).data.orderId);
        }
      },
    }),
  ];
  /** Orders both confirmed and with their saga completed. */
  const done = () => {
    let n = 0;
    for (const id of completed) if (confirmedAt.has(id)) n++;
    return n;
  };

  let n = 0;
  const place = () => system.place({ orderId: `bench-${n++}`, card: testCards.approve, items: [{ sku: 'MUG-001', quantity: 1 }] });
  return {
    place,
    confirmedAt,
    completed: () => completed.size,
    done,
    /** Messages published to every topic of the pipeline so far. */
    async busMessages(): Promise<number> {
      const seen = new Map<string, number>();
      for (const group of trafficGroups) for (const p of await bus.lag(group)) seen.set(`${p.topic}/${p.partition}`, p.end);
      return [...seen.values()].reduce((a, b) => a + b, 0);
    },
    async close() {
      for (const w of watchers) await w.stop();
      for (const runner of runners) await runner.stop();
      await saga.stop();
      await system.close();
      await docs?.close();
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

/** As many orders as the system takes, IN_FLIGHT placements at a time: orders confirmed and completed per second. */
async function maxRate(projectors: boolean): Promise<{ perSec: number; busMessagesPerOrder: number }> {
  const s = await stack({ projectors });
  const before = await s.busMessages();
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
  const ok = await until(() => s.done() >= MAX_ORDERS, 120_000);
  const seconds = (performance.now() - start) / 1000;
  const done = s.done();
  const busMessagesPerOrder = ((await s.busMessages()) - before) / Math.max(1, done);
  await s.close();
  if (!ok) console.warn(`only ${done}/${MAX_ORDERS} orders confirmed with their saga completed`);
  return { perSec: done / seconds, busMessagesPerOrder };
}

/** Orders placed at a steady rate: latency from placing to OrderConfirmed seen on the bus. */
async function latencyAt(ratePerSec: number, projectors: boolean): Promise<{ p50: number; p99: number; count: number }> {
  const s = await stack({ projectors });
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
const r = (x: number) => Math.round(x);
console.log(`bare bus (same run): publish ${r(bus.publishPerSec)} msg/s, consume ${r(bus.consumePerSec)} msg/s`);
for (const projectors of [false, true]) {
  const label = projectors ? 'saga + projectors' : 'saga';
  const max = await maxRate(projectors);
  const latency = await latencyAt(max.perSec / 2, projectors);
  const busRate = max.perSec * max.busMessagesPerOrder;
  console.log(
    `${label}: ${r(max.perSec)} orders/s confirmed and completed end to end (${MAX_ORDERS} orders, every service in one process); ` +
      `${max.busMessagesPerOrder.toFixed(1)} bus messages per order = ${r(busRate)} msg/s, ${((100 * busRate) / bus.publishPerSec).toFixed(1)}% of bare bus publish`,
  );
  console.log(`${label}: place -> confirmed at ${r(max.perSec / 2)} orders/s: p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms (${latency.count} orders)`);
}
