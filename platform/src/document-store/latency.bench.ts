/**
 * List-query latency of a document store: fills an orders-like collection and times the
 * pages a list screen asks for (filter by status and/or customer, newest first, 20 a page,
 * following cursors). Called from bench/projections.bench.ts; runnable alone:
 * `npx tsx platform/src/document-store/latency.bench.ts [orders=100000] [queries=2000]`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { Document, DocumentStore, Filter } from './port';

const COLLECTION = 'bench_orders';
const STATUSES = ['placed', 'reserving', 'paying', 'confirmed', 'rejected', 'cancelled'] as const;
const STATUS_WEIGHTS = [5, 2, 2, 70, 13, 8];
const PAGE = 20;
const PAGES_PER_LIST = 4;
const WARMUP = 50;

/** A seeded generator, so every run fills and queries the same way. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function weighted(random: () => number): (typeof STATUSES)[number] {
  const total = STATUS_WEIGHTS.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (let i = 0; i < STATUSES.length; i++) {
    r -= STATUS_WEIGHTS[i]!;
    if (r < 0) return STATUSES[i]!;
  }
  return STATUSES[0];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/**
 * Wall-clock p50/p99 in ms (what a caller waits). `cpuP50`/`cpuP99` are the process CPU time
 * per query, which tells the query's own cost from waiting for a core on a loaded machine.
 */
export async function measureListLatency(
  store: DocumentStore,
  opts: { orders: number; queries: number },
): Promise<{ p50: number; p99: number; max: number; cpuP50: number; cpuP99: number }> {
  const random = mulberry32(42);
  const customers = Math.max(1, Math.round(opts.orders / 100));
  await store.dropCollection(COLLECTION);
  const orders = await store.collection({
    name: COLLECTION,
    indexes: ['status', 'customerId', 'createdAt'],
    compound: [['status', 'createdAt'], ['customerId', 'createdAt']],
  });

  const start = Date.UTC(2026, 0, 1);
  for (let done = 0; done < opts.orders; ) {
    const batch: Document[] = [];
    for (const end = Math.min(opts.orders, done + 1000); done < end; done++) {
      const createdAt = new Date(start + done * 30_000 + Math.floor(random() * 30_000)).toISOString();
      batch.push({
        id: `order-${String(done).padStart(8, '0')}`,
        status: weighted(random),
        customerId: `customer-${Math.floor(random() * customers)}`,
        createdAt,
        items: [{ sku: `SKU-${Math.floor(random() * 500)}`, qty: 1 + Math.floor(random() * 3), price: 1999 }],
        total: 1999 + Math.floor(random() * 10_000),
        currency: 'EUR',
        payment: { state: 'captured' },
        timeline: [{ type: 'OrderPlaced', at: createdAt }],
      });
    }
    await store.write(batch.map((doc) => ({ collection: COLLECTION, op: 'put' as const, doc, expectedVersion: 0 })));
  }

  const timings: number[] = [];
  const cpuTimings: number[] = [];
  let measured = -WARMUP;
  while (measured < opts.queries) {
    const pick = random();
    const status = weighted(random);
    const customerId = `customer-${Math.floor(random() * customers)}`;
    const filter: Filter = pick < 0.4 ? { status } : pick < 0.8 ? { customerId } : { status, customerId };
    let cursor: string | undefined;
    for (let page = 0; page < PAGES_PER_LIST && measured < opts.queries; page++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const result = await orders.find({ filter, sort: { field: 'createdAt', direction: 'desc' }, limit: PAGE, ...(cursor ? { cursor } : {}) });
      const elapsed = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (measured >= 0) {
        timings.push(elapsed);
        cpuTimings.push((cpu.user + cpu.system) / 1000);
      }
      measured++;
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
  }
  timings.sort((a, b) => a - b);
  cpuTimings.sort((a, b) => a - b);
  return {
    p50: percentile(timings, 50),
    p99: percentile(timings, 99),
    max: timings[timings.length - 1] ?? 0,
    cpuP50: percentile(cpuTimings, 50),
    cpuP99: percentile(cpuTimings, 99),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { openSqliteDocumentStore } = await import('./sqlite');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latency-bench-'));
  const store = await openSqliteDocumentStore({ dataDir });
  const ordersN = Number(process.argv[2] ?? 100_000);
  const queries = Number(process.argv[3] ?? 2000);
  const t0 = performance.now();
  const result = await measureListLatency(store, { orders: ordersN, queries });
  console.log(JSON.stringify({ store: 'sqlite', orders: ordersN, queries, ...result, totalSeconds: (performance.now() - t0) / 1000 }));
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
