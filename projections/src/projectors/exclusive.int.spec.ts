import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { categoryOf, eventTopic } from '@saga/event-schemas/streams';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { until } from '@saga/platform/message-bus/contract';
import { openSqliteMessageBus } from '@saga/platform/message-bus/sqlite';
import type { MessageBus, TopicMessages } from '@saga/platform/message-bus/port';
import { customerOrder, orderStory, outcomeOf, record } from './fixtures';
import { projectAll } from './projection';
import { createProjectorRunner } from './runner';
import { STATS_ID, statsProjection } from './stats';

/**
 * On a store whose compare-and-set is not atomic (FerretDB), two replicas writing one document at
 * once may both win: there one replica of a projection consumes at a time, the others stand by,
 * and a stopped holder's lease passes on. Played on the embedded bus, with the embedded store
 * saying its compare-and-set is not atomic.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function byTopic(events: RecordedEvent[]): TopicMessages[] {
  const out = new Map<string, TopicMessages>();
  for (const e of events) {
    const topic = eventTopic(categoryOf(e.streamId));
    const t = out.get(topic) ?? out.set(topic, { topic, messages: [] }).get(topic)!;
    t.messages.push({ key: e.streamId, value: JSON.stringify(e) });
  }
  return [...out.values()];
}

describe('projector replicas on a store without an atomic compare-and-set', () => {
  it('one consumes while the other stands by; when it stops, the other takes over; the read model equals a rebuild', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exclusive-'));
    dirs.push(dataDir);
    const real = await openSqliteDocumentStore({ dataDir });
    const store: DocumentStore = Object.create(real, { atomicCompareAndSet: { value: false } });
    const buses: MessageBus[] = [];
    const openBus = async () => {
      const bus = await openSqliteMessageBus({ dataDir, membership: { heartbeatMs: 100, leaseTtlMs: 1_000 } });
      buses.push(bus);
      return bus;
    };
    // Two replicas, as two processes would run them: a bus each, one read model.
    const [a, b] = [
      createProjectorRunner({ bus: await openBus(), store, projection: statsProjection, handover: false, replica: 'a' }),
      createProjectorRunner({ bus: await openBus(), store, projection: statsProjection, handover: false, replica: 'b' }),
    ];
    const publisher = await openBus();
    try {
      await a.start();
      await b.start();
      const log = record(Array.from({ length: 40 }, (_, n) => orderStory(customerOrder(n, Date.UTC(2026, 0, 1)), outcomeOf(n))).flat());
      const relevant = log.filter((e) => statsProjection.eventTypes.includes(e.type as never));
      const half = Math.floor(log.length / 2);
      const firstHalf = relevant.filter((e) => e.position <= log[half - 1]!.position).length;
      await publisher.publishMany(byTopic(log.slice(0, half)));
      const applied = () => a.status().eventsApplied + b.status().eventsApplied + a.status().eventsSkipped + b.status().eventsSkipped;
      await until(() => applied() >= firstHalf, 'the first half applied', 20_000);
      // Without the lease both would hold partitions of the topics and both would have applied some.
      const holder = a.status().eventsApplied > 0 ? a : b;
      const standby = holder === a ? b : a;
      expect(standby.status().eventsApplied).toBe(0);

      await holder.stop();
      await publisher.publishMany(byTopic(log.slice(half)));
      await until(() => standby.status().eventsApplied > 0 && applied() >= relevant.length, 'the standby to take over and apply the rest', 20_000);

      const want = projectAll(statsProjection, relevant);
      const coll = await real.collection(statsProjection.collection);
      const got = await coll.getMany([...want.keys()]);
      expect(Object.fromEntries(got.map((d) => [d.id, d]))).toEqual(Object.fromEntries(want));
      expect(await coll.get(STATS_ID)).toEqual(want.get(STATS_ID));
    } finally {
      await a.stop();
      await b.stop();
      for (const bus of buses) await bus.close();
      await real.close();
    }
  }, 60_000);
});
