import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import { OrderId } from '@saga/event-schemas/ids';
import { eventTopic } from '@saga/event-schemas/streams';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { until } from '@saga/platform/message-bus/contract';
import { openKafkaMessageBus } from '@saga/platform/message-bus/kafka';
import { recordPublishes, startPrivateBroker } from '@saga/platform/message-bus/kafka/private-broker.fixture';
import type { BusMessage } from '@saga/platform/message-bus/port';
import { relayCheckpointName, startRelay } from './relay';

/**
 * The broker dies (SIGKILL) while the relay publishes and comes back on the same data: the relay
 * resumes by itself, and a read_committed consumer sees every event exactly once, in order per
 * stream (K1/K4: the transactional and idempotent producers are rebuilt; a publish that failed
 * may have committed, so the relay resumes from its checkpoint instead of resending).
 *
 * It runs a private broker of its own (.ci/servers.sh with its own SERVERS_STATE_DIR), so killing
 * it disturbs no other suite. It runs where Kafka can be run, i.e. where KAFKA_BROKERS is set.
 */
const canRunKafka = Boolean(process.env.KAFKA_BROKERS);
if (!canRunKafka) console.warn('relay-broker-crash.int.spec.ts: skipped, KAFKA_BROKERS is not set (a machine that runs Kafka: `.ci/servers.sh start kafka`)');

/** Reported by the relay about the kill: a publish or read failed, or the broker's group dropped its lease. */
const disturbed = (msg: string) => msg.includes('failed') || msg.includes('lease lost');

const confirmed = (orderId: string, i: number): NewEvent => ({
  eventId: randomUUID(),
  type: 'OrderConfirmed',
  data: { orderId: OrderId.parse(orderId), confirmedAt: new Date(Date.UTC(2026, 11, 1, 0, 0, i % 60)).toISOString() },
  metadata: { correlationId: orderId, causationId: randomUUID() },
});

describe.skipIf(!canRunKafka)('relay on Kafka when the broker is SIGKILLed mid-publish', () => {
  it('resumes after the broker restarts on the same data: nothing lost, nothing seen twice', async () => {
    const broker = startPrivateBroker();
    const { brokers } = broker;
    // Stopped whatever fails, setup included: a leaked broker would hold memory and CPU.
    try {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-broker-crash-store-'));
      const store = await openSqliteEventStore({ dataDir });
      const relayBus = await openKafkaMessageBus({ brokers, clientId: `relay-crash-${randomUUID().slice(0, 8)}`, defaultPartitions: 2, log: () => {} });
      const failures: string[] = [];
      const watched = recordPublishes(relayBus);
      const relay = await startRelay({ store, bus: watched.bus, log: (msg, extra) => void (disturbed(msg) && failures.push(`${msg} ${JSON.stringify(extra ?? {})}`)) });
      const orderIds = Array.from({ length: 8 }, () => randomUUID());
      const total = 480;
      let appended = 0;
      const appendAll = (async () => {
        for (let i = 0; i < total; i++) {
          const orderId = orderIds[i % orderIds.length]!;
          await store.append(`order-${orderId}`, [confirmed(orderId, i)]);
          appended++;
          // Paced so that the kill lands mid-stream and events keep coming while the broker is away.
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      try {
        await until(() => appended >= total / 3, 'a third of the events appended while the relay publishes');
        const downFrom = Date.now();
        await broker.kill();
        await new Promise((r) => setTimeout(r, 1_500));
        await broker.restart();
        const downTo = Date.now();
        await appendAll;

        const recorded: RecordedEvent[] = await store.readAll();
        expect(recorded).toHaveLength(total);
        const head = recorded.at(-1)!.position;
        const readerBus = await openKafkaMessageBus({ brokers, clientId: `reader-${randomUUID().slice(0, 8)}`, log: () => {} });
        // The broker is still loading its logs for a while after the restart: a failed read polls again.
        const published = async () => (await readerBus.readCheckpoint(relayCheckpointName('relay')).catch(() => undefined)) === head;
        await until(published, 'the relay to publish up to the head', 120_000).catch((error: unknown) => {
          console.error('relay-broker-crash.int.spec.ts: the relay reported', failures.slice(-10));
          throw error;
        });
        const received: BusMessage[] = [];
        const consumer = await readerBus.consume({ groupId: `reader-${randomUUID()}`, topics: [eventTopic('order')], handler: async (m) => void received.push(m) });
        await until(() => received.length >= total, `${total} messages`, 60_000);
        await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would arrive now
        await consumer.stop();
        await readerBus.close();

        console.log(`relay-broker-crash.int.spec.ts: ${received.length} messages for ${total} events; relay reported ${failures.length} failures or lost leases`);
        // The kill really hit it while it published: a publish was in flight or attempted while the broker was away
        // (it failed, or kafkajs's own retries waited the outage out).
        const hit = watched.publishes.filter((p) => p.startedAt <= downTo && (p.endedAt ?? Infinity) >= downFrom);
        console.log(`${hit.length} publishes attempted while the broker was away, ${hit.filter((p) => p.failed).length} of them failed`);
        // Or it stepped down first (the broker's group dropped its lease) or reported a failure.
        expect(hit.length + failures.length).toBeGreaterThan(0);
        expect(received).toHaveLength(total);
        for (const orderId of orderIds) {
          const streamId = `order-${orderId}`;
          const sent = received.filter((m) => m.key === streamId).map((m) => (JSON.parse(m.value) as RecordedEvent).eventId);
          expect(sent).toEqual(recorded.filter((e) => e.streamId === streamId).map((e) => e.eventId));
        }
      } finally {
        await appendAll.catch(() => {});
        await relay.stop();
        await relayBus.close().catch(() => {});
        await store.close();
      }
    } finally {
      broker.stop();
    }
  }, 300_000);
});
