import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Document, DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { startRelay, type Relay } from '../relay/relay';
import { appendStory, customerOrder, demoCatalog, orderStory, outcomeOf, productStory } from '../projectors/fixtures';
import { openOrderQueries } from '../projectors/orders';
import { groupIdOf, projectAll, type AnyProjection } from '../projectors/projection';
import { allProjections } from '../projectors/registry';
import { createProjectorRunner, replayTopicOf, type ProjectorRunner } from '../projectors/runner';
import { eventTypes } from '@saga/event-schemas/catalog';
import { rebuildInWorker } from './in-worker';
import { rebuildProjection } from './rebuild';
import { allDocs, untilWithin } from './spec-support';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');

const until = untilWithin(30_000);

/** What each projection must hold: the fold of the whole log, in log order. */
async function groundTruth(eventStore: EventStore, projection: AnyProjection) {
  const events = await eventStore.readAll({ limit: 1_000_000 });
  return Object.fromEntries(projectAll(projection, events));
}

describe('projectors and rebuild on the embedded stores', () => {
  let dir: string;
  let eventStore: EventStore;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let relay: Relay;
  let runners: ProjectorRunner[];
  let nextOrder = 0;

  const appendOrders = async (count: number) => {
    for (let i = 0; i < count; i++, nextOrder++) await appendStory(eventStore, orderStory(customerOrder(nextOrder, t0 + nextOrder * 100), outcomeOf(nextOrder)));
  };
  const caughtUp = async () => {
    for (const runner of runners) {
      const lag = await bus.lag(groupIdOf(runner.projection));
      if (lag.some((l) => l.lag > 0)) return false;
    }
    return (await bus.readCheckpoint('relay.relay')) === String(await eventStore.headPosition());
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'projections-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    relay = await startRelay({ store: eventStore, bus });
    runners = allProjections.map((projection) => createProjectorRunner({ bus, store: documentStore, projection }));
    for (const runner of runners) await runner.start();
    await appendStory(eventStore, productStory(demoCatalog(100_000), t0));
    await appendOrders(60);
    await until(caughtUp, 'the projectors to catch up');
  });

  afterAll(async () => {
    for (const runner of runners ?? []) await runner.stop();
    await relay?.stop();
    await bus?.close();
    await documentStore?.close();
    await eventStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('projects the live log into read models equal to the fold of the whole log', async () => {
    for (const projection of allProjections) {
      expect(await allDocs(documentStore, projection), projection.name).toEqual(await groundTruth(eventStore, projection));
    }
  });

  it('rebuilds each projection into the same read model while queries keep answering', async () => {
    const orders = await openOrderQueries(documentStore);
    const before = Object.fromEntries(await Promise.all(allProjections.map(async (p) => [p.name, await allDocs(documentStore, p)] as const)));
    for (const projection of allProjections) {
      const runner = runners.find((r) => r.projection === projection)!;
      let answered = 0;
      let failed = 0;
      let rebuilding = true;
      const reader = (async () => {
        while (rebuilding) {
          try {
            const page = await orders.list({ customerId: 'cust-3', limit: 100 });
            if (page.items.length === 6) answered++;
            else failed++;
          } catch {
            failed++;
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      const phases: string[] = [];
      const result = await rebuildProjection({ eventStore, documentStore, live: runner }, projection, {
        pageSize: 50,
        onProgress: (p) => {
          if (phases[phases.length - 1] !== p.phase) phases.push(p.phase);
        },
      });
      rebuilding = false;
      await reader;
      expect(phases).toEqual(['starting', 'building', 'catching-up', 'verifying', 'swapping', 'done']);
      expect(result.verification).toMatchObject({ differing: 0, caughtUp: true });
      expect(failed, `${projection.name}: queries failing during rebuild`).toBe(0);
      expect(answered).toBeGreaterThan(0);
      expect(await allDocs(documentStore, projection)).toEqual(before[projection.name]);
    }
    expect(await documentStore.listCollections()).not.toContain('orders__rebuild');
  });

  it('rebuilds the same read model when documents are written and forgotten between pages and read back', async () => {
    // The defaults keep a benchmark's documents in memory; these force every other path.
    for (const projection of allProjections) {
      const runner = runners.find((r) => r.projection === projection)!;
      const result = await rebuildProjection({ eventStore, documentStore, live: runner }, projection, { pageSize: 7, cacheSize: 1, flushEvery: 1, coldAfter: 0 });
      expect(result.verification).toMatchObject({ differing: 0, caughtUp: true });
      expect(await allDocs(documentStore, projection), projection.name).toEqual(await groundTruth(eventStore, projection));
    }
  });

  it('rebuilds the same read model in a worker whose writer thread lags: forgotten documents come from writes still in flight', async () => {
    // Every page writes what it changed and forgets it, so the next pages fold documents whose
    // writes are still in the writer thread's queue (or have landed and are read back).
    for (const projection of allProjections) {
      const runner = runners.find((r) => r.projection === projection)!;
      const result = await rebuildInWorker(projection, {
        at: { dataDir: dir },
        live: { stop: () => runner.stop(), start: () => runner.start() },
        options: { pageSize: 7, cacheSize: 1, flushEvery: 1, coldAfter: 0, writeChunk: 2 },
      });
      expect(result.verification).toMatchObject({ differing: 0, caughtUp: true });
      expect(await allDocs(documentStore, projection), projection.name).toEqual(await groundTruth(eventStore, projection));
    }
  });

  it('pages the log after each page\'s last position, and reports progress in events, total and ETA alike', async () => {
    for (const projection of allProjections) {
      const runner = runners.find((r) => r.projection === projection)!;
      const reports: { eventsDone: number; total: number | null; position: string | null; etaSeconds: number | null; phase: string }[] = [];
      const result = await rebuildProjection({ eventStore, documentStore, live: runner }, projection, { pageSize: 5, onProgress: (p) => reports.push(p) });
      // Every event the rebuild folds is read exactly once, across many pages. (815 events
      // in pages of 5 also end on a full page: the empty read after it must still flush.)
      const handled = (await eventStore.readAll({ limit: 1_000_000 })).filter((e) => projection.eventTypes.includes(e.type as never));
      const reads = projection.eventTypes.length * 2 < eventTypes.length ? handled.length : (await eventStore.readAll({ limit: 1_000_000 })).length;
      expect(result.eventsDone, projection.name).toBe(reads);
      expect(reads / 5).toBeGreaterThan(3);
      expect(result.total, projection.name).toBe(reads);
      expect(result.position).toBe((reads === handled.length ? handled : await eventStore.readAll({ limit: 1_000_000 })).at(-1)!.position);
      expect(result.verification).toMatchObject({ differing: 0, caughtUp: true });
      for (let i = 1; i < reports.length; i++) {
        const [a, b] = [reports[i - 1]!, reports[i]!];
        expect(b.eventsDone).toBeGreaterThanOrEqual(a.eventsDone);
        if (a.position !== null) expect(b.position! >= a.position).toBe(true);
        expect(b.total).toBeGreaterThanOrEqual(b.eventsDone);
      }
      // Half way, the ETA is what the events left take at the rate so far: a count, never a position.
      expect(reports.some((r) => r.phase === 'building' && r.eventsDone > 0 && r.etaSeconds !== null)).toBe(true);
      expect(reports.at(-1)).toMatchObject({ phase: 'done', etaSeconds: 0 });
    }
  });

  it('rebuilds while orders keep coming, then the resumed live projector lands on the fold of the whole log', async () => {
    const stats = allProjections.find((p) => p.name === 'stats')!;
    const runner = runners.find((r) => r.projection === stats)!;
    const writer = appendOrders(40);
    await rebuildProjection({ eventStore, documentStore, live: runner }, stats, { pageSize: 20 });
    await writer;
    await until(caughtUp, 'the projectors to catch up');
    for (const projection of allProjections) {
      expect(await allDocs(documentStore, projection), projection.name).toEqual(await groundTruth(eventStore, projection));
    }
  });

  it('changes nothing when the whole log is redelivered, directly or through a replay topic', async () => {
    const before = await Promise.all(allProjections.map((p) => allDocs(documentStore, p)));
    const events = await eventStore.readAll({ limit: 1_000_000 });
    for (const runner of runners) await runner.applyBatch(events);
    // A replay for the orders projector's group only: the other groups never see it.
    const orders = runners.find((r) => r.projection.name === 'orders')!;
    const replayed = orders.status().eventsSkipped;
    await bus.publish(
      replayTopicOf(groupIdOf(orders.projection)),
      events.map((e) => ({ key: e.streamId, value: JSON.stringify(e) })),
    );
    const relevant = events.filter((e) => (orders.projection.eventTypes as readonly string[]).includes(e.type)).length;
    await until(async () => orders.status().eventsSkipped >= replayed + relevant, 'the replay to be consumed');
    expect(await Promise.all(allProjections.map((p) => allDocs(documentStore, p)))).toEqual(before);
  });
});
