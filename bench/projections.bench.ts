/**
 * `npm run bench:projections [-- --events N] [--all]`
 *
 * 1. Writes about N events (default: 100,000 whole order stories, ~13.5 events each, so
 *    about 1.35 million) straight through the SQLite event store, in large per-stream batches.
 * 2. Reads the whole global log bare (pages of readAll, nothing else): the ceiling.
 * 3. Rebuilds the orders projection (and with --all every projection) from that log into the
 *    SQLite document store, timed, as log events per second; the ratio to the bare read is the
 *    figure to watch (aim: >= 0.5).
 * 4. List-query latency p50/p99 on the rebuilt orders read model through the read API's own
 *    queries, and on the document store's synthetic 100,000-order list bench (aim: p99 < 10 ms).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StoryEvent } from '@saga/projections/projectors/fixtures';
import { customerOrder, demoCatalog, orderStory, outcomeOf, productStory, toNewEvent } from '@saga/projections/projectors/fixtures';
import { openOrderQueries, ordersProjection, type OrderStatus } from '@saga/projections/projectors/orders';
import { allProjections } from '@saga/projections/projectors/registry';
import { rebuildProjection } from '@saga/projections/rebuild/rebuild';
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

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-projections-'));
  const eventStore = await openSqliteEventStore({ dataDir: dir });
  const documentStore = await openSqliteDocumentStore({ dataDir: dir });
  console.log(`data dir ${dir}`);

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
  await appendRuns(productStory(demoCatalog(1_000_000), t0));
  const CHUNK = 500;
  for (let n = 0; n < orders; n += CHUNK) {
    const story: StoryEvent[] = [];
    for (let k = n; k < Math.min(orders, n + CHUNK); k++) story.push(...orderStory(customerOrder(k, t0 + k * 1000, CUSTOMERS), outcomeOf(k)));
    await appendRuns(story);
    if ((n / CHUNK) % 20 === 0) process.stdout.write(`\rwriting the log: ${fmt(n)} / ${fmt(orders)} orders`);
  }
  const head = await eventStore.headPosition();
  const writeSeconds = (performance.now() - t) / 1000;
  console.log(`\rwrote ${fmt(head)} events (${fmt(orders)} orders) in ${writeSeconds.toFixed(1)} s (${fmt(head / writeSeconds)} events/s)`);

  // 2. The bare read of the same log.
  t = performance.now();
  let read = 0;
  for (let from = 0; ; ) {
    const page = await eventStore.readAll({ fromPosition: from, limit: 5000 });
    if (page.length === 0) break;
    read += page.length;
    from = page[page.length - 1]!.position + 1;
  }
  const bareSeconds = (performance.now() - t) / 1000;
  const bareRate = read / bareSeconds;
  console.log(`bare read: ${fmt(read)} events in ${bareSeconds.toFixed(2)} s = ${fmt(bareRate)} events/s`);

  // 3. Rebuilds.
  const results: { name: string; seconds: number; logRate: number; relevant: number; documents: number; ratio: number }[] = [];
  for (const projection of rebuildAll ? allProjections : [ordersProjection]) {
    t = performance.now();
    const result = await rebuildProjection({ eventStore, documentStore }, projection, { pageSize: 5000, compare: false });
    const seconds = (performance.now() - t) / 1000;
    const logRate = head / seconds;
    results.push({
      name: projection.name,
      seconds,
      logRate,
      relevant: result.eventsDone,
      documents: result.verification?.shadowCount ?? 0,
      ratio: logRate / bareRate,
    });
    console.log(
      `rebuild ${projection.name}: ${fmt(result.eventsDone)} of ${fmt(head)} log events applied, ${fmt(result.verification?.shadowCount ?? 0)} documents, ` +
        `${seconds.toFixed(2)} s = ${fmt(logRate)} log events/s, ratio to bare read ${(logRate / bareRate).toFixed(2)}`,
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

  const synthetic = await measureListLatency(documentStore, { orders: 100_000, queries: 2000 });
  console.log(`document store list bench, 100,000 orders: p50 ${synthetic.p50.toFixed(3)} ms, p99 ${synthetic.p99.toFixed(3)} ms`);

  console.log(
    JSON.stringify(
      {
        events: head,
        orders,
        bareReadEventsPerSecond: Math.round(bareRate),
        rebuilds: results.map((r) => ({ ...r, logRate: Math.round(r.logRate), seconds: Number(r.seconds.toFixed(2)), ratio: Number(r.ratio.toFixed(2)) })),
        ordersListLatencyMs: { orders: ordersCount, p50: Number(percentile(timings, 50).toFixed(3)), p99: Number(percentile(timings, 99).toFixed(3)) },
        syntheticListLatencyMs: { orders: 100_000, p50: Number(synthetic.p50.toFixed(3)), p99: Number(synthetic.p99.toFixed(3)) },
      },
      null,
      2,
    ),
  );
  await documentStore.close();
  await eventStore.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
