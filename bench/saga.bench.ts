/**
 * `npm run bench:saga [-- --quick] [-- --no-alone]`: the whole order saga, end to end, on the
 * embedded default (SQLite event store, bus and read models in a temp dir, every commit fsynced
 * before it is acknowledged), with every service in one process: relay, the four command services
 * and their consumers, the saga runtime, and (as `npm start` runs them) the read-model projectors.
 *
 * The mix is realistic: one order in five is paid with a declining card (reserve, charge declined,
 * release, reject, email), the rest go the whole way (reserve, charge, confirm, commit stock,
 * email); orders have one to three lines over five SKUs. A warm-up precedes every measurement.
 *
 * - max rate: a closed loop of IN_FLIGHT (200) customers, each placing an order and waiting for its
 *   saga to end (SagaEnded on `events.saga`, as any reader sees it through the relay) before the
 *   next, so at most 200 sagas are in flight. Orders/s, and CPU ms per order from
 *   process.cpuUsage (every thread of the process: fsyncs on libuv's pool, checkpointers).
 * - latency: orders placed on a steady schedule at half that max rate and at 30 orders/s; per order,
 *   placing -> SagaEnded, and placing -> OrderConfirmed (approved orders), p50 and p99.
 *
 * Baselines of the same run, so a figure on a shared machine reads as a ratio: the bare bus
 * (durable publishes of 100 messages, bench/bus.bench.ts) and the bare event store (durable
 * single-event appends from 200 concurrent callers). Each saga figure is printed beside the
 * share of those it uses (the events and bus messages an order costs, counted, times orders/s).
 * Each latency run is also printed as a multiple of one bare durable append (a single-event
 * append to a store of its own, one at a time, measured just before the run): the saga's path
 * holds about 16 durable writes one after another, so ~16x is its floor without queueing.
 * `--breakdown` adds, for each latency run, where an order's time goes hop by hop
 * (bench/saga-trace.ts), fsyncs and write transactions per order by file; `--latency-at=30,60`
 * runs only those rates after the warm-up (for profiling one load).
 * `--unsynced-reference` adds a last run with fs.fdatasync answering at once (nothing reaches
 * the disk before it is acknowledged): the difference is what the fsyncs cost on this machine.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { startEmbeddedStack, testCards } from '@saga/saga-orchestrator/embedded-stack.fixture';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { allProjections } from '@saga/projections/projectors/registry';
import { groupIdOf } from '@saga/projections/projectors/projection';
import { runBusBench } from './bus.bench';
import { SagaTrace } from './saga-trace';

const quick = process.argv.includes('--quick');
const withAlone = !process.argv.includes('--no-alone');
/** Only the saga-alone run (for profiling the pipeline without the projectors). */
const aloneOnly = process.argv.includes('--alone-only');
/** Also run saga + projectors with every fsync answered at once: what durability costs, in the same run (a reference, not the figure). */
const unsyncedReference = process.argv.includes('--unsynced-reference');
/** Also print, for each latency run, where an order's time goes hop by hop (bench/saga-trace.ts). */
const breakdown = process.argv.includes('--breakdown');
/** `--latency-at=30,60` (for profiling one load): only these rates, after the warm-up, without the max-rate run. */
const latencyAt_ = process.argv.find((a) => a.startsWith('--latency-at='));
const fixedRates = latencyAt_ ? latencyAt_.slice('--latency-at='.length).split(',').map(Number) : undefined;
const ORDERS = quick ? 1_500 : 5_000;
const WARM_UP = quick ? 200 : 500;
const LATENCY_MS = quick ? 3_000 : 6_000;
const IN_FLIGHT = 200;
const SKUS = ['MUG-001', 'TEE-002', 'CAP-003', 'PEN-004', 'BAG-005'];

/** fdatasync calls of the process (every store's WAL syncs), counted: how well group commit amortises them. */
let fsyncs = 0;
/** `--unsynced-reference`: every fsync answered at once, nothing reaches the disk before it is acknowledged. */
let fsyncStubbed = false;
const realFdatasync = fs.fdatasync;
/** `--breakdown`: each fsync of a latency run, by file, with how long it took. */
const fsyncTimes = new Map<string, number[]>();
let timeFsyncs = false;
const fileOf = (fd: number) => {
  try {
    return path.basename(fs.readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return `fd ${fd}`;
  }
};
/** `--breakdown`: write transactions (better-sqlite3 `transaction()` runs) of a latency run, by file. */
const transactions = new Map<string, number>();
if (process.argv.includes('--breakdown')) {
  const make = Database.prototype.transaction;
  let depth = 0;
  Database.prototype.transaction = function (this: Database.Database, fn: (...args: never[]) => unknown) {
    const file = path.basename(this.name);
    const counted = (...args: never[]) => {
      if (depth === 0 && timeFsyncs) transactions.set(file, (transactions.get(file) ?? 0) + 1);
      depth++;
      try {
        return fn(...args);
      } finally {
        depth--;
      }
    };
    return make.call(this, counted as never);
  } as typeof Database.prototype.transaction;
}
fs.fdatasync = ((fd: number, done: (error: NodeJS.ErrnoException | null) => void) => {
  fsyncs++;
  if (fsyncStubbed) queueMicrotask(() => done(null));
  else if (!timeFsyncs) realFdatasync(fd, done);
  else {
    const t0 = performance.now();
    realFdatasync(fd, (error) => {
      const file = fileOf(fd);
      let xs = fsyncTimes.get(file);
      if (!xs) fsyncTimes.set(file, (xs = []));
      xs.push(performance.now() - t0);
      done(error);
    });
  }
}) as typeof fs.fdatasync;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const r = (x: number) => Math.round(x);

/** Consumer groups that between them read every topic the saga pipeline writes (for counting its bus messages). */
const trafficGroups = ['saga-orchestrator', 'order-service', 'inventory-service', 'payment-service', 'email-service', 'bench-watch-sagas', 'bench-watch-orders'];

interface Ended {
  at: number;
  status: string;
}

async function stack(options: { projectors: boolean }) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-saga-'));
  const docs = options.projectors ? await openSqliteDocumentStore({ dataDir }) : undefined;
  const trace = breakdown ? new SagaTrace() : undefined;
  const system = await startEmbeddedStack({
    dataDir,
    stepTimeoutMs: 30_000,
    ...(docs ? { docs } : {}),
    ...(trace ? { wrap: { store: (s) => trace.store(s), bus: (b) => trace.bus(b) } } : {}),
  });
  const { bus } = system;
  // The saga and the projectors from the same composition as the services (app/compose.ts).
  const saga = await system.services.consumers.saga();
  const projector = docs ? await system.services.consumers.projector() : undefined;
  for (const [i, sku] of SKUS.entries()) {
    await system.inventory.addProduct({ sku, name: sku, price: 500 + 100 * i, currency: 'EUR', stock: 1_000_000 });
  }

  const placedAt = new Map<string, number>();
  const confirmedAt = new Map<string, number>();
  const endedAt = new Map<string, Ended>();
  const waiting = new Map<string, () => void>();
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
        const now = performance.now();
        for (const m of messages) {
          if (!m.value.includes('"type":"SagaEnded"')) continue;
          const { orderId, status } = JSON.parse(m.value).data as { orderId: string; status: string };
          if (endedAt.has(orderId)) continue;
          endedAt.set(orderId, { at: now, status });
          waiting.get(orderId)?.();
          waiting.delete(orderId);
        }
      },
    }),
  ];

  let n = 0;
  /** Places the next order of the mix; resolves with its id once the order service has accepted it. */
  const place = async (): Promise<string> => {
    const i = n++;
    const orderId = `bench-${i}`;
    const lines = 1 + (i % 3);
    const items = Array.from({ length: lines }, (_, k) => ({ sku: SKUS[(i + 2 * k) % SKUS.length]!, quantity: 1 + ((i + k) % 2) }));
    placedAt.set(orderId, performance.now());
    await system.place({ orderId, card: i % 5 === 4 ? testCards.decline : testCards.approve, items });
    return orderId;
  };
  const ended = (orderId: string) =>
    endedAt.has(orderId) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(orderId, resolve));

  return {
    trace,
    place,
    ended,
    placedAt,
    confirmedAt,
    endedAt,
    /** Events in the store and messages on every topic of the pipeline, so far. */
    async traffic(): Promise<{ events: number; messages: number }> {
      const seen = new Map<string, number>();
      for (const group of trafficGroups) for (const p of await bus.lag(group)) seen.set(`${p.topic}/${p.partition}`, p.end);
      return { events: await system.store.countEvents!(), messages: [...seen.values()].reduce((a, b) => a + b, 0) };
    },
    /** Waits (bounded) until the projectors have applied everything published, so one phase's backlog does not land on the next. */
    async settle(): Promise<void> {
      const deadline = performance.now() + 30_000;
      for (const projection of options.projectors ? allProjections : []) {
        while (performance.now() < deadline && (await bus.lag(groupIdOf(projection))).some((p) => p.lag > 0)) await sleep(20);
      }
      await sleep(200);
    },
    async close() {
      for (const w of watchers) await w.stop();
      await projector?.stop();
      await saga.stop();
      await system.close();
      await docs?.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type Stack = Awaited<ReturnType<typeof stack>>;

/** IN_FLIGHT customers, each placing an order and waiting for its saga to end before the next. */
async function closedLoop(s: Stack, orders: number): Promise<{ seconds: number; cpuMs: number; userMs: number; fsyncs: number }> {
  let left = orders;
  const fsyncs0 = fsyncs;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (left > 0) {
        left--;
        await s.ended(await s.place());
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpuMs: (cpu.user + cpu.system) / 1000, userMs: cpu.user / 1000, fsyncs: fsyncs - fsyncs0 };
}

const pct = (xs: number[], p: number) => (xs.length === 0 ? NaN : xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!);

/** Orders placed on a steady schedule; latency from placing to SagaEnded and to OrderConfirmed. */
async function latencyAt(s: Stack, ratePerSec: number) {
  const total = Math.max(60, r((ratePerSec * LATENCY_MS) / 1000));
  const ids: string[] = [];
  const placing: Promise<void>[] = [];
  const cpu0 = process.cpuUsage();
  s.trace?.start();
  fsyncTimes.clear();
  transactions.clear();
  timeFsyncs = breakdown;
  const fsyncs0 = fsyncs;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / ratePerSec - performance.now();
    if (wait > 1) await sleep(wait);
    placing.push(s.place().then((id) => void ids.push(id)));
  }
  await Promise.all(placing);
  // At most a minute for the stragglers; the timer is cleared, so the bench does not sit out the minute before it exits.
  let giveUp: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(ids.map(s.ended)), new Promise<void>((r) => (giveUp = setTimeout(r, 60_000)))]);
  clearTimeout(giveUp);
  s.trace?.stop();
  timeFsyncs = false;
  const fsyncsPerOrder = (fsyncs - fsyncs0) / total;
  const cpu = process.cpuUsage(cpu0);
  const cpuMsPerOrder = (cpu.user + cpu.system) / 1000 / total;
  const ended: number[] = [];
  const confirmed: number[] = [];
  for (const id of ids) {
    const t0 = s.placedAt.get(id)!;
    const e = s.endedAt.get(id);
    if (e) ended.push(e.at - t0);
    const c = s.confirmedAt.get(id);
    if (c !== undefined) confirmed.push(c - t0);
  }
  ended.sort((a, b) => a - b);
  confirmed.sort((a, b) => a - b);
  return { total, ended, confirmed, cpuMsPerOrder, fsyncsPerOrder };
}

/** One durable single-event append at a time to a store of its own: the latency of the smallest durable write, now. */
async function bareAppendLatency(appends: number): Promise<{ p50: number; p99: number }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-store-latency-'));
  const store = await openSqliteEventStore({ dataDir });
  const xs: number[] = [];
  for (let i = 0; i < appends; i++) {
    const t0 = performance.now();
    await store.append(`order-l${i}`, [
      {
        eventId: randomUUID(),
        type: 'OrderConfirmed',
        data: { orderId: `l${i}`, confirmedAt: '2026-01-02T03:04:05.000Z' },
        metadata: { correlationId: `l${i}`, causationId: randomUUID(), userId: 'bench' },
      } as NewEvent,
    ]);
    xs.push(performance.now() - t0);
  }
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  xs.sort((a, b) => a - b);
  return { p50: pct(xs, 50), p99: pct(xs, 99) };
}

/** Durable single-event appends per second from IN_FLIGHT concurrent callers: the bare store under the saga's concurrency. */
async function bareStoreAppendsPerSec(appends: number): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-store-'));
  const store = await openSqliteEventStore({ dataDir });
  const event = (orderId: string): NewEvent =>
    ({
      eventId: randomUUID(),
      type: 'OrderConfirmed',
      data: { orderId, confirmedAt: '2026-01-02T03:04:05.000Z' },
      metadata: { correlationId: orderId, causationId: randomUUID(), userId: 'bench' },
    }) as NewEvent;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < appends) {
        const i = next++;
        await store.append(`order-b${i}`, [event(`b${i}`)]);
      }
    }),
  );
  const perSec = appends / ((performance.now() - t0) / 1000);
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return perSec;
}

async function printLatency(s: Stack, label: string, rate: number, halfMax: boolean): Promise<void> {
  await s.settle();
  const bare = await bareAppendLatency(200);
  const l = await latencyAt(s, rate);
  const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
  const times = (xs: number[]) => `${(pct(xs, 50) / bare.p50).toFixed(0)}x / ${(pct(xs, 99) / bare.p99).toFixed(0)}x`;
  console.log(
    `${label} at ${r(rate)} orders/s${halfMax ? ' (half max)' : ''}: place -> SagaEnded ${f(l.ended)} (${l.ended.length}/${l.total}) = ${times(l.ended)} ` +
      `a bare durable append (p50 ${bare.p50.toFixed(2)} ms, p99 ${bare.p99.toFixed(2)} ms, just before); ` +
      `place -> OrderConfirmed ${f(l.confirmed)} (${l.confirmed.length}); CPU ${l.cpuMsPerOrder.toFixed(2)} ms/order, ${l.fsyncsPerOrder.toFixed(1)} fsyncs/order`,
  );
  if (s.trace) {
    for (const line of s.trace.report(l.total, 'bench-watch-sagas')) console.log(line);
    for (const [file, xs] of fsyncTimes) {
      xs.sort((a, b) => a - b);
      console.log(`  fsync ${file}: ${(xs.length / l.total).toFixed(2)}/order, p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`);
    }
    console.log(`  write transactions per order: ${[...transactions].map(([file, n]) => `${file} ${(n / l.total).toFixed(1)}`).join(', ')}`);
  }
}

// `--no-baselines` (for profiling the saga alone): the shares of the baselines print as NaN.
const withBaselines = !process.argv.includes('--no-baselines');
const busBase = withBaselines ? await runBusBench({ messages: quick ? 10_000 : 30_000 }) : { publishPerSec: NaN };
const storeBase = withBaselines ? await bareStoreAppendsPerSec(quick ? 5_000 : 20_000) : NaN;
if (withBaselines) {
  console.log(
    `baseline (same run, durable): bus publish ${r(busBase.publishPerSec)} msg/s (batches of 100); ` +
      `event store ${r(storeBase)} appends/s (${IN_FLIGHT} concurrent single-event appends)`,
  );
}

const runs: { projectors: boolean; unsynced: boolean }[] = [
  ...(withAlone ? [{ projectors: false, unsynced: false }] : []),
  ...(aloneOnly ? [] : [{ projectors: true, unsynced: false }]),
  ...(unsyncedReference ? [{ projectors: true, unsynced: true }] : []),
];
for (const { projectors, unsynced } of runs) {
  const label = (projectors ? 'saga + projectors' : 'saga alone') + (unsynced ? ' (reference: fsync stubbed out, NOT durable)' : '');
  fsyncStubbed = unsynced;
  const s = await stack({ projectors });
  try {
    await closedLoop(s, WARM_UP);
    await s.settle();
    if (fixedRates) {
      for (const rate of fixedRates) await printLatency(s, label, rate, false);
      continue;
    }
    const before = await s.traffic();
    const max = await closedLoop(s, ORDERS);
    const after = await s.traffic();
    const perSec = ORDERS / max.seconds;
    const eventsPerOrder = (after.events - before.events) / ORDERS;
    const messagesPerOrder = (after.messages - before.messages) / ORDERS;
    const declined = [...s.endedAt.values()].filter((e) => e.status === 'rejected').length / s.endedAt.size;
    console.log(
      `${label}: ${r(perSec)} orders/s to SagaEnded (${ORDERS} orders after ${WARM_UP} warm-up, ${IN_FLIGHT} in flight, ` +
        `${(100 * declined).toFixed(0)}% declined, ${SKUS.length} SKUs), CPU ${(max.cpuMs / ORDERS).toFixed(2)} ms/order ` +
        `(user ${(max.userMs / ORDERS).toFixed(2)}, ${(max.fsyncs / ORDERS).toFixed(1)} fsyncs/order); ` +
        `per order ${eventsPerOrder.toFixed(1)} events = ${((100 * perSec * eventsPerOrder) / storeBase).toFixed(0)}% of the bare store, ` +
        `${messagesPerOrder.toFixed(1)} bus messages = ${((100 * perSec * messagesPerOrder) / busBase.publishPerSec).toFixed(1)}% of the bare bus`,
    );
    for (const rate of [perSec / 2, 30]) await printLatency(s, label, rate, rate !== 30);
  } finally {
    await s.close();
  }
}
