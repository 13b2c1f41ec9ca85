import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '@saga/platform/errors';
import type { Document, DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { appendStory, customerOrder, demoCatalog, orderStory, outcomeOf, productStory } from '../projectors/fixtures';
import { openOrderQueries } from '../projectors/orders';
import { groupIdOf, projectAll, type AnyProjection } from '../projectors/projection';
import { allProjections, projectionNamed } from '../projectors/registry';
import { createProjectorRunner, type ProjectorRunner } from '../projectors/runner';
import { startRelay, type Relay } from '../relay/relay';
import { LEASES, leaseCollection, LEASE_TTL_MS, type LeaseDoc } from './lease';
import type { RebuildProgress } from './rebuild';
import { createRebuildService } from './service';
import { allDocs, untilWithin } from './spec-support';

const t0 = Date.parse('2026-01-01T10:00:00.000Z');

const until = untilWithin(60_000);

describe('the rebuild service: a worker thread, the bus hand-over, one rebuild at a time', () => {
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
    for (const runner of runners) if ((await bus.lag(groupIdOf(runner.projection))).some((l) => l.lag > 0)) return false;
    return (await bus.readCheckpoint('relay.relay')) === String(await eventStore.headPosition());
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebuild-service-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    relay = await startRelay({ store: eventStore, bus });
    runners = allProjections.map((projection) => createProjectorRunner({ bus, store: documentStore, projection }));
    for (const runner of runners) await runner.start();
    await appendStory(eventStore, productStory(demoCatalog(1_000_000), t0));
    await appendOrders(400);
    await until(caughtUp, 'the projectors to catch up');
  }, 120_000);

  afterAll(async () => {
    for (const runner of runners ?? []) await runner.stop();
    await relay?.stop();
    await bus?.close();
    await documentStore?.close();
    await eventStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rebuilds in a worker thread while this thread answers queries, and the paused projector lands on the fold of the whole log', async () => {
    const service = createRebuildService({ eventStore, documentStore, projections: allProjections, bus, worker: { at: { dataDir: dir } }, reportEveryMs: 0 });
    const orders = projectionNamed('orders')!;
    const queries = await openOrderQueries(documentStore);
    const reports: RebuildProgress[] = [];
    service.onProgress((p) => reports.push(p));
    // This thread's work while the worker rebuilds: queries, and appends that the projectors must not lose at the swap.
    // Counted from the start to the end of the rebuild: on 5,000 events the reading itself may take only a few pages' time.
    let answeredWhileRebuilding = 0;
    let started = false;
    let rebuilding = true;
    const reader = (async () => {
      while (rebuilding) {
        const page = await queries.list({ customerId: 'cust-3', limit: 5 });
        if (page.items.length === 5 && started && reports.at(-1)?.phase !== 'done') answeredWhileRebuilding++;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const writer = appendOrders(60);
    const first = await service.start('orders');
    started = true;
    expect(first).toMatchObject({ projection: 'orders', phase: 'starting' });
    await service.settled('orders');
    rebuilding = false;
    await reader;
    await writer;

    const last = reports.at(-1)!;
    expect(last.error).toBeNull();
    expect(last).toMatchObject({ phase: 'done', etaSeconds: 0, verification: { caughtUp: true } });
    expect(last.total).toBe(last.eventsDone);
    // The phases in order, each reported, and the hand-over acknowledged by the one replica of orders (in this process).
    const phases = reports.map((r) => r.phase).filter((p, i, all) => all[i - 1] !== p);
    expect(phases).toEqual(['starting', 'building', 'catching-up', 'verifying', 'swapping', 'done']);
    expect(reports.some((r) => r.handover?.state === 'pausing')).toBe(true);
    expect(reports.some((r) => r.handover?.state === 'paused' && r.handover.replicas === 1 && r.handover.acknowledged === 1)).toBe(true);
    expect(last.handover).toMatchObject({ state: 'resumed', replicas: 1, acknowledged: 1 });
    // Intermediate progress: counts between the first page and the end, never past the total.
    expect(reports.some((r) => r.phase === 'building' && r.eventsDone > 0 && r.eventsDone < last.eventsDone)).toBe(true);
    for (const r of reports) if (r.total !== null) expect(r.eventsDone).toBeLessThanOrEqual(r.total);
    expect(answeredWhileRebuilding).toBeGreaterThan(0);

    await until(caughtUp, 'the projectors to catch up after the rebuild');
    const log = await eventStore.readAll({ limit: 1_000_000 });
    expect(await allDocs(documentStore, orders)).toEqual(Object.fromEntries(projectAll(orders, log)));
    expect(runners.find((r) => r.projection === orders)!.status().state).toBe('running');
    expect(await documentStore.listCollections()).not.toContain('orders__rebuild');
    expect(await (await leaseCollection(documentStore)).get('orders')).toBeNull();
  }, 180_000);

  it('refuses a second rebuild of a projection on another gateway while one runs, shows it there, and takes over a dead holder\'s lease', async () => {
    const gatewayA = createRebuildService({ eventStore, documentStore, projections: allProjections, bus, holder: 'gateway-a' });
    const gatewayB = createRebuildService({ eventStore, documentStore, projections: allProjections, bus, holder: 'gateway-b' });
    await gatewayA.start('stats');
    await expect(gatewayB.start('stats')).rejects.toThrow(ConflictError);
    await expect(gatewayB.start('stats')).rejects.toThrow(/being rebuilt \(by gateway-a/);
    await expect(gatewayA.start('stats')).rejects.toThrow(ConflictError);
    // B shows A's rebuild, from the lease.
    await until(async () => (await gatewayB.progress('stats')) !== null, "gateway B to see A's rebuild");
    await gatewayA.settled('stats');
    expect((await gatewayA.progress('stats'))?.phase).toBe('done');
    // Free again once A is done: B may rebuild.
    await gatewayB.start('stats');
    await gatewayB.settled('stats');
    expect((await gatewayB.progress('stats'))?.phase).toBe('done');

    // A holder that died leaves a lease nobody renews: past its time it is taken over.
    const dead: LeaseDoc = { id: 'mailbox', projection: 'mailbox', holder: 'gateway-dead', rebuildId: 'r-dead', state: 'building', renewedAt: Date.now() - LEASE_TTL_MS - 1, generation: 3, progress: null };
    await documentStore.write([{ collection: LEASES.name, op: 'put', doc: dead, expectedVersion: 0 }]);
    await gatewayA.start('mailbox');
    await gatewayA.settled('mailbox');
    expect((await gatewayA.progress('mailbox'))?.phase).toBe('done');
  }, 120_000);
});
