import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogPosition } from '@saga/event-schemas/envelope';
import { startEmbeddedStack, testCards as cards } from './embedded-stack.fixture';
import { killOrchestrator as kill, startOrchestrator as start } from './orchestrator-child.fixture';
import { openKafkaMessageBus } from '@saga/platform/message-bus/kafka';
import { startPrivateBroker } from '@saga/platform/message-bus/kafka/private-broker.fixture';
import { relayCheckpointName } from '@saga/projections/relay/relay';
import { dispatcherCheckpoint } from './dispatcher';
import { categories, commandTopics, eventTopic } from '@saga/event-schemas/streams';

/**
 * Three orchestrator processes on one embedded data directory split the sagas by partition. A
 * wave of orders waits on a paused payment service, so their payment steps time out while one
 * orchestrator is SIGKILLed mid-wave and started again. Each process prints the timers it fires;
 * a deadline is fired by the process owning its saga's partition and by no other, and the
 * killed owner's deadlines are fired by whoever takes its partitions, from the timer index.
 */
const stepTimeoutMs = 1_500;
const leaseTtlMs = 600;
const orders = 60;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Fired {
  process: string;
  orderId: string;
  step: string;
  dueAt: string;
}

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) console.warn('ownership.e2e.spec.ts: the Kafka run is skipped, KAFKA_BROKERS is not set');
const buses = ['embedded', ...(brokers ? ['kafka'] : [])] as const;

describe.each(buses)('three orchestrator processes own the sagas by partition (%s bus)', (busKind) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-ownership-'));
  // On a broker other runs may have used: this run's own client ids, group and order ids.
  const run = randomUUID().slice(0, 8);
  // On a broker of its own (KAFKA_BROKERS only says Kafka runs here): on the one the whole suite shares, events.order was
  // made by an earlier test with fewer partitions than orchestrators, and the third never got one (skipped in CI).
  const kafka = busKind === 'kafka' ? { brokers: [] as string[], clientId: `ownership-stack-${run}` } : undefined;
  const childEnv = (name: string): Record<string, string> =>
    kafka ? { ORCHESTRATOR_KAFKA_BROKERS: kafka.brokers.join(','), SAGA_CLIENT_ID: `ownership-${name}-${run}`, SAGA_GROUP_ID: `saga-ownership-${run}` } : {};
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('one SIGKILLed and restarted mid-wave: no timer fired twice, every saga ends', async (ctx) => {
    if (kafka) {
      const broker = startPrivateBroker();
      cleanup.push(async () => broker.stop());
      kafka.brokers = broker.brokers;
      // Publisher checkpoints on Kafka are keyed by name only: a broker that already holds the
      // relay's or the dispatcher's from another event store would have them resume from a
      // position of that store. This run needs a broker no other store has published through.
      // A fresh broker creates its internal topics and loads its group coordinator for a few
      // seconds, and a reader or consumer started then fails: probe (and warm it) until it answers.
      let foreign = false;
      for (let attempt = 1; ; attempt++) {
        let probe: Awaited<ReturnType<typeof openKafkaMessageBus>> | undefined;
        try {
          probe = await openKafkaMessageBus({ brokers: kafka.brokers, clientId: `ownership-probe-${run}`, log: () => undefined });
          await probe.createTopics([...categories.map(eventTopic), ...Object.values(commandTopics)].map((name) => ({ name })));
          foreign = [await probe.readCheckpoint(relayCheckpointName('relay')), await probe.readCheckpoint(dispatcherCheckpoint)].some((c) => c !== undefined);
          await (await probe.consume({ groupId: `ownership-warmup-${run}`, topics: ['events.order'], handler: async () => undefined })).stop();
          break;
        } catch (error) {
          if (attempt === 30) throw error;
          await sleep(1_000);
        } finally {
          await probe?.close().catch(() => undefined);
        }
      }
      if (foreign) {
        console.warn('ownership.e2e.spec.ts: the Kafka run is skipped, the broker holds relay/dispatcher checkpoints of another event store (use a fresh broker)');
        ctx.skip();
      }
    }
    const stack = await startEmbeddedStack({ dataDir, stepTimeoutMs, leaseTtlMs, fastRetries: true, ...(kafka ? { kafka } : {}) });
    const { store, inventory, order } = stack;
    cleanup.push(() => stack.close());
    await inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: orders });

    const attempts: Fired[] = [];
    const applied: Fired[] = [];
    const owners = new Map<string, Set<number>>();
    const children = new Map<string, ChildProcess>();
    const startOne = async (name: string) => {
      const child = await start(dataDir, {
        stepTimeoutMs,
        leaseTtlMs,
        env: { SAGA_LOG_INFO: '1', ...childEnv(name === 'c2' ? 'c' : name) },
        onLine: (line) => {
          if (!line.startsWith('{')) return;
          const entry = JSON.parse(line) as { msg: string; orderId: string; step: string; dueAt: string; partitions?: number[] };
          if (entry.msg === 'saga: firing a timer') attempts.push({ process: name, orderId: entry.orderId, step: entry.step, dueAt: entry.dueAt });
          if (entry.msg === 'saga: step timed out') applied.push({ process: name, orderId: entry.orderId, step: entry.step, dueAt: entry.dueAt });
          if (entry.msg === 'saga: owns these partitions now') for (const p of entry.partitions!) (owners.get(name) ?? owners.set(name, new Set()).get(name)!).add(p);
        },
      });
      children.set(name, child);
      cleanup.push(() => kill(child));
    };
    for (const name of ['a', 'b', 'c']) await startOne(name);
    // The group settled on three owners before the wave (on Kafka the joins can take a few rebalances), so the kill
    // below takes partitions from a real owner.
    const settling = Date.now();
    while (['a', 'b', 'c'].some((n) => !owners.get(n)?.size) && Date.now() - settling < 90_000) await sleep(50);
    if (!owners.get('c')?.size) {
      // Seen on the broker the whole suite shares (its events.order made by an earlier test): the kill below would
      // take nothing from anyone, so this run could not prove the take-over. The embedded run and a fresh broker do.
      console.warn(`ownership.e2e.spec.ts: the ${busKind} run is skipped, the group never gave process c a partition in 90 s ` +
        `(owners: ${JSON.stringify(Object.fromEntries([...owners].map(([k, v]) => [k, [...v]])))}); run it on a fresh broker`);
      ctx.skip();
    }

    // The payment service is down: every charge waits, and every payment step times out.
    await stack.pause('payment');
    const placed: string[] = [];
    const wave = (async () => {
      for (let i = 0; i < orders; i++) {
        const card = i % 6 === 1 ? cards.decline : cards.approve;
        const orderId = await stack.place({ orderId: `owned-${run}-${i}`, card, items: [{ sku: 'MUG-001', quantity: 1 }] });
        placed.push(orderId);
        if (i % 9 === 4) setTimeout(() => void order.requestCancellation({ orderId, actor: { userId: `cust-${orderId}`, role: 'customer' } }).catch(() => undefined), 20);
        await sleep(40);
      }
    })();
    // Mid-wave, once the killed one is firing its deadlines: SIGKILL one owner, then start it again.
    const firingFrom = Date.now();
    while (attempts.filter((a) => a.process === 'c').length < 3 && Date.now() - firingFrom < 20_000) await sleep(10);
    const killedAt = attempts.length;
    await kill(children.get('c')!);
    await sleep(leaseTtlMs);
    await startOne('c2');
    await wave;
    await sleep(stepTimeoutMs);
    await stack.resume('payment');

    // On Kafka a SIGKILLed member holds its partitions until its session times out (30 s).
    const deadline = Date.now() + (kafka ? 150_000 : 90_000);
    let settledAt = 0;
    let lastHead: LogPosition | null = null;
    let endedCount = 0;
    for (;;) {
      endedCount = (await store.readAll({ filter: { eventTypes: ['SagaEnded'] } })).filter((e) => placed.includes((e.data as { orderId: string }).orderId)).length;
      const head = await store.headPosition();
      if (endedCount === orders && head === lastHead) {
        if (settledAt === 0) settledAt = Date.now();
        if (Date.now() - settledAt > stepTimeoutMs * 3) break;
      } else settledAt = 0;
      lastHead = head;
      if (Date.now() > deadline) break;
      await sleep(200);
    }
    expect(endedCount, 'sagas ended').toBe(orders);

    // The streams: each deadline's StepTimedOut applied at most once (its id is derived from it).
    const transitions = await store.readAll({ filter: { eventTypes: ['SagaTransitioned'] } });
    const timeouts = transitions.filter((e) => (e.data as { input: { type: string } }).input.type === 'StepTimedOut');
    const timeoutIds = timeouts.map((e) => (e.data as { input: { eventId: string } }).input.eventId);
    expect(new Set(timeoutIds).size).toBe(timeoutIds.length);
    // (A process killed between its append and its print applied one it did not print.)
    expect(applied.length, 'timeouts applied, as printed').toBeLessThanOrEqual(timeouts.length);

    // Each deadline was fired by one process only. The one exception allowed: a deadline the
    // killed process was firing when it died (its append may not have committed), fired again
    // by the partition's next owner.
    const firedBy = new Map<string, Set<string>>();
    const firedTimes = new Map<string, number>();
    for (const a of attempts) {
      const key = `${a.orderId}/${a.step}/${a.dueAt}`;
      (firedBy.get(key) ?? firedBy.set(key, new Set()).get(key)!).add(a.process);
      firedTimes.set(`${a.process}/${key}`, (firedTimes.get(`${a.process}/${key}`) ?? 0) + 1);
    }
    const twice = [...firedBy].filter(([, by]) => by.size > 1);
    const twiceByLiving = twice.filter(([, by]) => [...by].filter((p) => p !== 'c').length > 1);
    const twiceInOne = [...firedTimes].filter(([, n]) => n > 1);
    console.info(
      `ownership test (${busKind}): ${orders} orders, ${timeouts.length} timeouts applied, ${attempts.length} fired (${killedAt} before the kill), ` +
        `by process ${JSON.stringify(Object.fromEntries(['a', 'b', 'c', 'c2'].map((p) => [p, attempts.filter((a) => a.process === p).length])))}, ` +
        `deadlines fired by two processes: ${twice.length} (the killed one's in-flight: ${twice.length - twiceByLiving.length})`,
    );
    expect(twiceByLiving).toEqual([]);
    expect(twiceInOne).toEqual([]);
    // Every applied timeout was applied by exactly one process.
    const appliedKeys = applied.map((a) => `${a.orderId}/${a.step}/${a.dueAt}`);
    expect(new Set(appliedKeys).size).toBe(appliedKeys.length);
    // The wave did time out, and the work was shared: the survivors fired timers, including the
    // killed owner's once they took its partitions.
    expect(timeouts.length).toBeGreaterThanOrEqual(orders / 2);
    expect(attempts.filter((a) => a.process === 'a').length).toBeGreaterThan(0);
    expect(attempts.filter((a) => a.process === 'b').length).toBeGreaterThan(0);
    expect(owners.get('c')?.size ?? 0).toBeGreaterThan(0);
  }, 240_000);
});
