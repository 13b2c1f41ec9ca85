/**
 * `npm run bench:projections [-- --events N] [--all]`
 *
 * 1. Writes about N events (default: 100,000 whole order stories, ~13.5 events each, so
 *    about 1.35 million) straight through the SQLite event store, in large per-stream batches.
 * 2. Reads the whole global log bare (pages of readAll, nothing else, in the rebuild's page
 *    size): the ceiling.
 * 3. Rebuilds the orders projection (and with --all every projection) from that log into the
 *    SQLite document store, timed, as log events per second; the ratio to the bare read is the
 *    figure to watch (aim: >= 0.5).
 * 4. List-query latency p50/p99 on the rebuilt orders read model through the read API's own
 *    queries, and on the document store's synthetic 100,000-order list bench (aim: p99 < 10 ms).
 * 5. The orders rebuild as the gateway runs it: in a worker thread (a second one writing the
 *    shadow), its ratio to a bare read timed just before (aim: >= 0.7), while this thread runs
 *    list queries (p99 aim <= 20 ms) and a 10 ms timer whose lateness is measured.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import type { LogPosition } from '@saga/event-schemas/envelope';
import type { StoryEvent } from '@saga/projections/projectors/fixtures';
import { customerOrder, demoCatalog, orderStory, outcomeOf, productStory, toNewEvent } from '@saga/projections/projectors/fixtures';
import { openOrderQueries, ordersProjection, type OrderStatus } from '@saga/projections/projectors/orders';
import { allProjections } from '@saga/projections/projectors/registry';
import { rebuildProjection } from '@saga/projections/rebuild/rebuild';
import { rebuildInWorker } from '@saga/projections/rebuild/in-worker';
import { measureListLatency } from '@saga/platform/document-store/latency.bench';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { deterministicId } from '@saga/platform/ids';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const EVENTS_PER_ORDER = 13.5; // the fixtures' outcome mix, on average
const eventsFlag = flag('--events');
const orders = eventsFlag === undefined ? 100_000 : Math.ceil(Number(eventsFlag) / EVENTS_PER_ORDER);
const rebuildAll = args.includes('--all');
const CUSTOMERS = 1000;
/**
 * One page size for the bare read and the rebuild, the rebuild's own default: the bare read
 * is faster in small pages too (CPU 3.6 s in pages of 1,000, 4.0 s in pages of 5,000), so
 * the ceiling is measured the way the rebuild reads.
 */
const PAGE_SIZE = 1000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main() {
  // `--data-dir DIR` keeps the generated log there and reuses it on the next run.
  const kept = flag('--data-dir');
  const dir = kept ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-projections-'));
  const eventStore = await openSqliteEventStore({ dataDir: dir });
  const documentStore = await openSqliteDocumentStore({ dataDir: dir });
  console.log(`data dir ${dir}`);
  const reuse = (await eventStore.headPosition()) !== null;

  // 1. The log: per chunk of orders, each stream's events in one append (the warehouse's too).
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  let t = performance.now();
  const revisions = new Map<string, number>();
  const appendRuns = async (story: StoryEvent[]) => {
    const byStream = new Map<string, StoryEvent[]>();
    for (const s of story) byStream.set(s.streamId, [...(byStream.get(s.streamId) ?? []), s]);
    for (const [streamId, events] of byStream) {
      const from = (revisions.get(streamId) ?? -1) + 1;
      await eventStore.append(streamId, events.map((s, k) => toNewEvent(s, deterministicId(streamId, from + k))));
      revisions.set(streamId, from + events.length - 1);
    }
  };
  if (!reuse) await appendRuns(productStory(demoCatalog(1_000_000), t0));
  const CHUNK = 500;
  for (let n = 0; n < (reuse ? 0 : orders); n += CHUNK) {
    const story: StoryEvent[] = [];
    for (let k = n; k < Math.min(orders, n + CHUNK); k++) story.push(...orderStory(customerOrder(k, t0 + k * 1000, CUSTOMERS), outcomeOf(k)));
    await appendRuns(story);
    if ((n / CHUNK) % 20 === 0) process.stdout.write(`\rwriting the log: ${fmt(n)} / ${fmt(orders)} orders`);
  }
  // Events in the log (a position is no count; the embedded store counts them).
  const head = await eventStore.countEvents!();
  const writeSeconds = (performance.now() - t) / 1000;
  // Observed here: the store's WAL is not checkpointed while it is written (17 GB of WAL for
  // 1.35M events), which makes every later read crawl. Fold it into the database first, so
  // the figures measure reads and rebuilds, not a runaway WAL.
  const side = new Database(path.join(dir, 'events.sqlite'));
  side.pragma('busy_timeout = 10000');
  const checkpoint = side.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
  side.close();
  console.log(`checkpointed the event store's WAL: ${JSON.stringify(checkpoint[0])}`);
  if (reuse) console.log(`reusing the log of ${fmt(head)} events`);
  else console.log(`\rwrote ${fmt(head)} events (${fmt(orders)} orders) in ${writeSeconds.toFixed(1)} s (${fmt(head / writeSeconds)} events/s)`);

  // 2. The bare read of the same log. It is timed again right before each rebuild, so both
  // sides of a ratio run under the same load (the machine is shared); CPU time is reported
  // too, as the load-independent view of the same ratio.
  const timed = async <T>(work: () => Promise<T>) => {
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const value = await work();
    const cpu = process.cpuUsage(cpu0);
    return { value, seconds: (performance.now() - start) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  };
  const bareRead = (pageSize = PAGE_SIZE) =>
    timed(async () => {
      let read = 0;
      for (let after: LogPosition | undefined; ; ) {
        const page = await eventStore.readAll({ ...(after ? { after } : {}), limit: pageSize });
        if (page.length === 0) break;
        read += page.length;
        after = page[page.length - 1]!.position;
      }
      return read;
    });
  const bare = await bareRead();
  const bareRate = bare.value / bare.seconds;
  console.log(`bare read: ${fmt(bare.value)} events in ${bare.seconds.toFixed(2)} s = ${fmt(bareRate)} events/s (pages of ${fmt(PAGE_SIZE)})`);
  // The ceiling the ratio was first measured against, for comparison with earlier figures.
  const bareBig = await bareRead(5000);
  console.log(`bare read in pages of 5,000: ${bareBig.seconds.toFixed(2)} s = ${fmt(bareBig.value / bareBig.seconds)} events/s`);

  // 3. Rebuilds.
  const results: { name: string; seconds: number; logRate: number; bareRate: number; ratio: number; cpuRatio: number; documents: number }[] = [];
  for (const projection of rebuildAll ? allProjections : [ordersProjection]) {
    const before = await bareRead();
    const run = await timed(() => rebuildProjection({ eventStore, documentStore }, projection, { pageSize: PAGE_SIZE, compare: false }));
    const logRate = head / run.seconds;
    const localBare = before.value / before.seconds;
    const ratio = logRate / localBare;
    const cpuRatio = before.cpuSeconds / run.cpuSeconds;
    results.push({ name: projection.name, seconds: run.seconds, logRate, bareRate: localBare, ratio, cpuRatio, documents: run.value.verification?.shadowCount ?? 0 });
    console.log(
      `rebuild ${projection.name}: ${fmt(head)} log events, ${fmt(run.value.verification?.shadowCount ?? 0)} documents, ` +
        `${run.seconds.toFixed(2)} s = ${fmt(logRate)} events/s; bare read just before ${fmt(localBare)} events/s; ` +
        `ratio ${ratio.toFixed(2)} (CPU time ratio ${cpuRatio.toFixed(2)})`,
    );
  }

  // 4. List-query latency on the rebuilt orders read model, through the read API's queries.
  const queries = await openOrderQueries(documentStore);
  const statuses: OrderStatus[] = ['pending', 'confirmed', 'rejected', 'cancelled'];
  const timings: number[] = [];
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = -50; i < 3000; ) {
    const pick = random();
    const customerId = `cust-${Math.floor(random() * CUSTOMERS)}`;
    const status = statuses[1 + Math.floor(random() * 3)]!;
    const base = pick < 0.4 ? { customerId } : pick < 0.7 ? { customerId, status } : { status };
    let cursor: string | undefined;
    for (let page = 0; page < 3; page++, i++) {
      const start = performance.now();
      const result = await queries.list({ ...base, limit: 20, ...(cursor ? { cursor } : {}) });
      if (i >= 0) timings.push(performance.now() - start);
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
  }
  timings.sort((a, b) => a - b);
  const ordersCount = await (await documentStore.collection(ordersProjection.collection)).count();
  console.log(`orders list queries on ${fmt(ordersCount)} rebuilt orders: p50 ${percentile(timings, 50).toFixed(3)} ms, p99 ${percentile(timings, 99).toFixed(3)} ms (${timings.length} queries)`);

  // 5. The rebuild in worker threads while this thread serves queries and a timer.
  const during = { queries: [] as number[], timerLate: [] as number[], seconds: 0, ratio: 0, bareRate: 0, worker: 0, startup: 0, readingRatio: 0 };
  {
    const before = await bareRead();
    during.bareRate = before.value / before.seconds;
    let running = true;
    let expected = performance.now() + 10;
    const timer = setInterval(() => {
      const now = performance.now();
      during.timerLate.push(Math.max(0, now - expected));
      expected = now + 10;
    }, 10);
    const start = performance.now();
    // When the worker began reading: before it, the thread starts and loads its code (under tsx, compiles it).
    let firstPage = 0;
    const rebuild = rebuildInWorker(ordersProjection, { at: { dataDir: dir }, pipelined: !args.includes('--one-thread'), options: { pageSize: PAGE_SIZE, compare: false }, onProgress: (p) => {
      if (p.phase === 'building' && firstPage === 0) firstPage = performance.now();
    } }).finally(() => (running = false));
    let n = 0;
    while (running) {
      const customerId = `cust-${n++ % CUSTOMERS}`;
      const q0 = performance.now();
      await queries.list({ customerId, limit: 20 });
      during.queries.push(performance.now() - q0);
      // A client's pace, not a busy loop: the thread must be free for the timer too.
      await new Promise((r) => setTimeout(r, 2));
    }
    await rebuild;
    during.seconds = (performance.now() - start) / 1000;
    clearInterval(timer);
    during.worker = head / during.seconds;
    during.ratio = during.worker / during.bareRate;
    during.startup = (firstPage - start) / 1000;
    during.readingRatio = head / (during.seconds - during.startup) / during.bareRate;
    during.queries.sort((a, b) => a - b);
    during.timerLate.sort((a, b) => a - b);
    console.log(
      `rebuild orders in a worker: ${during.seconds.toFixed(2)} s = ${fmt(during.worker)} events/s; bare read just before ${fmt(during.bareRate)} events/s; ` +
        `ratio ${during.ratio.toFixed(2)} (thread start ${during.startup.toFixed(2)} s; from its first page on, ratio ${during.readingRatio.toFixed(2)}); meanwhile ${during.queries.length} list queries here: p50 ${percentile(during.queries, 50).toFixed(2)} ms, p99 ${percentile(during.queries, 99).toFixed(2)} ms; ` +
        `10 ms timer late by p99 ${percentile(during.timerLate, 99).toFixed(1)} ms, max ${(during.timerLate.at(-1) ?? 0).toFixed(1)} ms`,
    );
  }

  const synthetic = await measureListLatency(documentStore, { orders: 100_000, queries: 2000 });
  console.log(`document store list bench, 100,000 orders: p50 ${synthetic.p50.toFixed(3)} ms, p99 ${synthetic.p99.toFixed(3)} ms`);

  console.log(
    JSON.stringify(
      {
        events: head,
        orders,
        bareReadEventsPerSecond: Math.round(bareRate),
        rebuilds: results.map((r) => ({
          name: r.name,
          documents: r.documents,
          seconds: Number(r.seconds.toFixed(2)),
          eventsPerSecond: Math.round(r.logRate),
          bareReadEventsPerSecond: Math.round(r.bareRate),
          ratio: Number(r.ratio.toFixed(2)),
          cpuRatio: Number(r.cpuRatio.toFixed(2)),
        })),
        workerRebuild: {
          name: 'orders',
          seconds: Number(during.seconds.toFixed(2)),
          eventsPerSecond: Math.round(during.worker),
          bareReadEventsPerSecond: Math.round(during.bareRate),
          ratio: Number(during.ratio.toFixed(2)),
          threadStartSeconds: Number(during.startup.toFixed(2)),
          ratioFromFirstPage: Number(during.readingRatio.toFixed(2)),
          queriesDuring: { count: during.queries.length, p50: Number(percentile(during.queries, 50).toFixed(3)), p99: Number(percentile(during.queries, 99).toFixed(3)) },
          timerLateMs: { p99: Number(percentile(during.timerLate, 99).toFixed(1)), max: Number((during.timerLate.at(-1) ?? 0).toFixed(1)) },
        },
        ordersListLatencyMs: { orders: ordersCount, p50: Number(percentile(timings, 50).toFixed(3)), p99: Number(percentile(timings, 99).toFixed(3)) },
        syntheticListLatencyMs: { orders: 100_000, p50: Number(synthetic.p50.toFixed(3)), p99: Number(synthetic.p99.toFixed(3)) },
      },
      null,
      2,
    ),
  );
  await documentStore.close();
  await eventStore.close();
  if (!kept) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
