/**
 * `npm run bench:projectors -- [--orders N] [--rate R] [--runs K]`: what the live
 * read-model projectors cost per order, apart from the saga.
 *
 * Whole order stories (the fixtures', saga events from the real machine) are published to the
 * embedded bus as the relay would, 200 orders in flight interleaved event by event, at R orders/s
 * (default 200, about what `bench:saga` sustains with projectors). Every projector of the
 * registry consumes them as `npm start` runs them (handover roster included). Measured: CPU ms per
 * order (process.cpuUsage, every thread) from the first publish until every projector has applied
 * its last event, minus the same paced publish with no projector running (the reference, in the
 * same run), and the documents written per order. The read models are then compared with a fold
 * of the same events (`projectAll`): a figure from a projector that got them wrong is refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { categories, categoryOf, eventTopic } from '@saga/event-schemas/streams';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { Document, DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import type { MessageBus, TopicMessages } from '@saga/platform/message-bus/port';
import { customerOrder, demoCatalog, orderStory, outcomeOf, productStory, record, type StoryEvent } from '@saga/projections/projectors/fixtures';
import { handles, projectAll } from '@saga/projections/projectors/projection';
import { allProjections } from '@saga/projections/projectors/registry';
import { createProjectorRunner } from '@saga/projections/projectors/runner';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ORDERS = flag('--orders', 2000);
const RATE = flag('--rate', 200);
const RUNS = flag('--runs', 1);
const IN_FLIGHT = 200;
const TICK_MS = 10;

/** The stories of ORDERS orders, IN_FLIGHT at a time, interleaved one event each in turn, recorded in that (log) order. */
function liveLog(): RecordedEvent[] {
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  const story: StoryEvent[] = [...productStory(demoCatalog(1_000_000), t0)];
  const pending = Array.from({ length: ORDERS }, (_, k) => orderStory(customerOrder(k, t0 + k * 10, 1000), outcomeOf(k)));
  for (let from = 0; from < ORDERS; from += IN_FLIGHT) {
    const window = pending.slice(from, from + IN_FLIGHT).map((s) => [...s]);
    while (window.some((s) => s.length > 0)) for (const s of window) if (s.length > 0) story.push(s.shift()!);
  }
  return record(story);
}

function byTopic(events: RecordedEvent[]): TopicMessages[] {
  const out = new Map<string, TopicMessages>();
  for (const e of events) {
    const topic = eventTopic(categoryOf(e.streamId));
    let t = out.get(topic);
    if (!t) out.set(topic, (t = { topic, messages: [] }));
    t.messages.push({ key: e.streamId, value: JSON.stringify(e) });
  }
  return [...out.values()];
}

/** Publishes the log at RATE orders/s in ticks; resolves when the last event is published. */
async function pacedPublish(bus: MessageBus, log: RecordedEvent[]): Promise<void> {
  const perMs = (RATE * (log.length / ORDERS)) / 1000;
  const start = performance.now();
  let sent = 0;
  while (sent < log.length) {
    const due = Math.min(log.length, Math.ceil((performance.now() - start + TICK_MS) * perMs));
    if (due > sent) await bus.publishMany(byTopic(log.slice(sent, due)));
    sent = due;
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
}

async function allDocs(store: DocumentStore, name: string): Promise<Map<string, Document>> {
  const coll = await store.collection(allProjections.find((p) => p.collection.name === name)!.collection);
  const out = new Map<string, Document>();
  for (let cursor: string | undefined; ; ) {
    const page = await coll.find({ limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const d of page.items) out.set(d.id, d);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}

/** JSON with keys sorted: a summary's keys come in the order its counts first moved, which delivery order decides. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );

const cpuMs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

async function run(log: RecordedEvent[], withProjectors: boolean) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-projectors-'));
  const bus = await openSqliteMessageBus({ dataDir });
  await bus.createTopics(categories.map(eventTopic).map((name) => ({ name })));
  const store = await openSqliteDocumentStore({ dataDir });
  const runners = withProjectors ? allProjections.map((projection) => createProjectorRunner({ bus, store, projection })) : [];
  await Promise.all(runners.map((r) => r.start()));
  let written = 0;
  for (const r of runners) r.onChange((change) => (written += change.docs.length));
  const expected = runners.map((r) => log.filter((e) => handles(r.projection, e)).length);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pacedPublish(bus, log);
  const caughtUp = () => runners.every((r, i) => r.status().eventsApplied + r.status().eventsSkipped >= expected[i]!);
  while (!caughtUp()) await new Promise((r) => setTimeout(r, 5));
  const cpu = cpuMs(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  await check(store, runners, log);
  for (const r of runners) await r.stop();
  await store.close();
  await bus.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return { cpu, seconds, written };
}

/**
 * `--chunk C`: no bus and no clock, so the figure repeats on a busy machine: the log in chunks of
 * C events, each projector applying its share of each chunk as one batch (the runner's applyBatch),
 * one projector after another. CPU ms per order of the applies alone, and documents written.
 */
async function direct(log: RecordedEvent[], chunk: number) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-projectors-'));
  const bus = await openSqliteMessageBus({ dataDir });
  const store = await openSqliteDocumentStore({ dataDir });
  const runners = allProjections.map((projection) => createProjectorRunner({ bus, store, projection, handover: false }));
  let written = 0;
  for (const r of runners) r.onChange((change) => (written += change.docs.length));
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < log.length; i += chunk) {
    const events = log.slice(i, i + chunk);
    for (const r of runners) {
      const mine = events.filter((e) => handles(r.projection, e));
      if (mine.length > 0) await r.applyBatch(mine);
    }
  }
  const cpu = cpuMs(cpu0);
  await check(store, runners, log);
  await store.close();
  await bus.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return { cpu, written };
}

async function check(store: DocumentStore, runners: { projection: (typeof allProjections)[number] }[], log: RecordedEvent[]) {
  for (const r of runners) {
    const want = projectAll(r.projection, log);
    const got = await allDocs(store, r.projection.collection.name);
    const wrong = [...want].filter(([id, doc]) => canonical(got.get(id)) !== canonical(doc)).length + (got.size > want.size ? got.size - want.size : 0);
    if (wrong > 0) throw new Error(`projection ${r.projection.name}: ${wrong} of ${want.size} documents differ from a fold of the log`);
  }
}

async function main() {
  const log = liveLog();
  const chunk = flag('--chunk', 0);
  if (chunk > 0) {
    console.log(`${ORDERS} orders, ${log.length} events, 200 in flight, applied in chunks of ${chunk} events; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    for (let k = 0; k < RUNS; k++) {
      const { cpu, written } = await direct(log, chunk);
      console.log(`projectors (applies alone): ${(cpu / ORDERS).toFixed(2)} CPU ms/order; ${(written / ORDERS).toFixed(1)} documents written per order; read models equal a fold of the log; load ${os.loadavg()[0]!.toFixed(2)}`);
    }
    return;
  }
  console.log(`${ORDERS} orders, ${log.length} events, published at ${RATE} orders/s, ${IN_FLIGHT} in flight; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (let k = 0; k < RUNS; k++) {
    const bare = await run(log, false);
    const live = await run(log, true);
    const perOrder = (live.cpu - bare.cpu) / ORDERS;
    console.log(
      `projectors: ${perOrder.toFixed(2)} CPU ms/order (with ${(live.cpu / ORDERS).toFixed(2)}, publish alone ${(bare.cpu / ORDERS).toFixed(2)}); ` +
        `${(live.written / ORDERS).toFixed(1)} documents written per order; caught up ${(live.seconds - bare.seconds).toFixed(2)} s after the publish's ${bare.seconds.toFixed(2)} s; ` +
        `read models equal a fold of the log; load ${os.loadavg()[0]!.toFixed(2)}`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
