import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Document, DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import { appendStory, customerOrder, demoCatalog, orderStory, outcomeOf, productStory } from '../projectors/fixtures';
import { groupIdOf, projectAll, type AnyProjection } from '../projectors/projection';
import { projectionNamed } from '../projectors/registry';
import { startRelay, type Relay } from '../relay/relay';
import { rosterOf } from './control';
import type { RebuildProgress } from './rebuild';
import { createRebuildService } from './service';
import { allDocs, untilWithin } from './spec-support';

/**
 * Issue 15.5 / R1: the gateway (this process) rebuilds while the projectors run in two other
 * processes and orders keep coming. Across the swap every replica is paused through the bus
 * and acknowledges; afterwards the read models equal the fold of the whole log, so no live
 * write was lost at the swap.
 */
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'projectors', 'replica.process.ts');
const t0 = Date.parse('2026-01-01T10:00:00.000Z');
const watched = ['orders', 'stats'];

interface ProjectorProcess {
  child: ChildProcess;
  ready: Promise<string[]>;
  exited: Promise<number | null>;
}

function startProjectors(dataDir: string): ProjectorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, dataDir, 'projector', watched.join(',')], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const ready = new Promise<string[]>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /ready (.*)\n/.exec(out);
      if (line) resolve(line[1]!.split(' '));
    });
    child.once('exit', (code) => reject(new Error(`projector process exited ${code} before ready: ${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ready, exited };
}

const until = untilWithin(90_000);

describe('a rebuild hands the live collection over to projectors in other processes', () => {
  let dir: string;
  let eventStore: EventStore;
  let bus: MessageBus;
  let documentStore: DocumentStore;
  let relay: Relay;
  let projectors: ProjectorProcess[] = [];
  let nextOrder = 0;

  const appendOrders = async (count: number) => {
    for (let i = 0; i < count; i++, nextOrder++) await appendStory(eventStore, orderStory(customerOrder(nextOrder, t0 + nextOrder * 100), outcomeOf(nextOrder)));
  };
  const caughtUp = async () => {
    for (const name of watched) if ((await bus.lag(groupIdOf({ name }))).some((l) => l.lag > 0)) return false;
    return (await bus.readCheckpoint('relay.relay')) === String(await eventStore.headPosition());
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handover-'));
    eventStore = await openSqliteEventStore({ dataDir: dir });
    bus = await openSqliteMessageBus({ dataDir: dir });
    documentStore = await openSqliteDocumentStore({ dataDir: dir });
    relay = await startRelay({ store: eventStore, bus });
    await appendStory(eventStore, productStory(demoCatalog(1_000_000), t0));
    await appendOrders(200);
    projectors = [startProjectors(dir), startProjectors(dir)];
    await Promise.all(projectors.map((p) => p.ready));
    await until(caughtUp, 'the projector processes to catch up');
  }, 180_000);

  afterAll(async () => {
    for (const p of projectors) p.child.stdin!.end();
    await Promise.all(projectors.map((p) => p.exited));
    await relay?.stop();
    await bus?.close();
    await documentStore?.close();
    await eventStore?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pauses both replicas across the swap, each acknowledges, and no live write is lost while orders flow', async () => {
    const replicas = (await Promise.all(projectors.map((p) => p.ready))).flat();
    for (const name of watched) expect((await rosterOf(documentStore, name)).map((r) => r.replica).sort()).toEqual(replicas.filter((r) => r.includes(`:${name}:`)).sort());

    const service = createRebuildService({ eventStore, documentStore, projections: watched.map((n) => projectionNamed(n)!), bus, worker: { at: { dataDir: dir } }, reportEveryMs: 0 });
    const reports: RebuildProgress[] = [];
    service.onProgress((p) => reports.push(p));
    let flowing = true;
    const writer = (async () => {
      // The embedded store appends synchronously: a turn of the event loop between batches.
      while (flowing) {
        await appendOrders(5);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      for (const name of watched) {
        await service.start(name);
        await service.settled(name);
      }
    } finally {
      flowing = false;
      await writer;
    }
    for (const name of watched) {
      const mine = reports.filter((r) => r.projection === name);
      expect(mine.at(-1), name).toMatchObject({ phase: 'done', error: null, verification: { caughtUp: true } });
      expect(mine.some((r) => r.handover?.state === 'paused' && r.handover.replicas === 2 && r.handover.acknowledged === 2), name).toBe(true);
      expect(mine.at(-1)!.handover, name).toMatchObject({ state: 'resumed', replicas: 2, acknowledged: 2 });
    }
    // Orders were written during each rebuild, so the swap had live writes to lose.
    expect(nextOrder).toBeGreaterThan(200);

    await until(caughtUp, 'the projector processes to catch up after the rebuilds');
    const log = await eventStore.readAll({ limit: 10_000_000 });
    for (const name of watched) {
      const projection = projectionNamed(name)!;
      expect(await allDocs(documentStore, projection), name).toEqual(Object.fromEntries(projectAll(projection, log)));
    }
  }, 240_000);
});
