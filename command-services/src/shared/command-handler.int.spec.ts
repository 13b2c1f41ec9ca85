import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { DomainEvent } from '@saga/event-schemas/catalog';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { OrderId } from '@saga/event-schemas/ids';
import type { EventStore, ReadStreamOptions } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { aggregateLoader } from './command-handler';
import { tempDataDir } from './test-support';

const at = '2026-11-22T10:00:00.000Z';
const confirmed = (orderId: string, causationId: string): NewEvent => ({
  eventId: randomUUID(),
  type: 'OrderConfirmed',
  data: { orderId: OrderId.parse(orderId), confirmedAt: at },
  metadata: { correlationId: orderId, causationId, occurredAt: at },
});
/** The state is the list of the event types folded, so what was folded shows. */
const evolve = (state: string[], event: DomainEvent) => [...state, event.type];

describe('aggregateLoader: each load folds only what the stream gained, and is as fresh as a full read', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('reads from the revision it holds, folds what another writer appended, and never changes an aggregate it handed out', async () => {
    const dataDir = tempDataDir('aggregate-loader');
    const raw = await openSqliteEventStore({ dataDir });
    cleanups.push(async () => {
      await raw.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    const reads: (ReadStreamOptions | undefined)[] = [];
    const store: EventStore = { ...raw, readStream: (id, options) => (reads.push(options), raw.readStream(id, options)) };
    await raw.append('order-a', [confirmed('a', 'cmd-1'), confirmed('a', 'cmd-2')], { expectedRevision: 'no_stream' });

    const load = aggregateLoader(store, [] as string[], evolve);
    const first = await load('order-a');
    expect(first.revision).toBe(1);
    expect(first.state).toEqual(['OrderConfirmed', 'OrderConfirmed']);
    expect([...first.handledCommands]).toEqual(['cmd-1', 'cmd-2']);

    // Nothing new: the same aggregate, from a read after its revision.
    expect(await load('order-a')).toEqual(first);

    // Another writer (not through this loader) appends: the next load sees it.
    await raw.append('order-a', [confirmed('a', 'cmd-3')], { expectedRevision: 1 });
    const second = await load('order-a');
    expect(second.revision).toBe(2);
    expect(second.state).toHaveLength(3);
    expect([...second.handledCommands]).toEqual(['cmd-1', 'cmd-2', 'cmd-3']);
    // The aggregate handed out before is as it was.
    expect(first.revision).toBe(1);
    expect([...first.handledCommands]).toEqual(['cmd-1', 'cmd-2']);

    expect(reads).toEqual([{}, { fromRevision: 2 }, { fromRevision: 2 }]);

    // A stream that does not exist yet is the initial state, and is then followed like any other.
    expect(await load('order-new')).toEqual({ state: [], revision: -1, handledCommands: new Set() });
    await raw.append('order-new', [confirmed('n', 'cmd-n')], { expectedRevision: 'no_stream' });
    expect((await load('order-new')).revision).toBe(0);
  });
});
