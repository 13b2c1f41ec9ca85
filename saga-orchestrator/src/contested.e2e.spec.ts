import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appendMany, WrongExpectedRevisionError, type EventStore } from '@saga/platform/event-store/port';
import { startEmbeddedStack, testCards } from './embedded-stack.fixture';
import { startSagaRuntime } from './runtime';

/**
 * Two runtimes in two consumer groups, so both get every input of every saga and race to write
 * it. Their group commits hold many sagas each; whenever one loses a saga's expected revision,
 * that saga alone must fail in its group and come back through redelivery, where the stream
 * shows the input applied: every input applied exactly once, every saga completed.
 */
describe('two runtimes racing on every saga, each writing many sagas per commit', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saga-contested-'));
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('applies each input once per saga and completes every order', async () => {
    const stack = await startEmbeddedStack({ dataDir, stepTimeoutMs: 30_000 });
    cleanup.push(() => stack.close());
    const { store, bus } = stack;
    // Besides the real race (where the store mostly recognises the loser's append as the same
    // one, by its deterministic event ids), some sagas lose their first write in a group to a
    // "writer elsewhere": the store's answer is a WrongExpectedRevisionError for that saga alone.
    const contested = new Set<string>();
    let grouped = 0;
    const racing: EventStore = {
      ...store,
      async appendMany(appends) {
        if (appends.length > 1) grouped++;
        const victims = appends.map((a, i) => (appends.length > 1 && i % 3 === 1 && !contested.has(a.streamId) ? a.streamId : null));
        const results = await appendMany(
          store,
          appends.filter((_, i) => victims[i] === null),
        );
        return appends.map((a, i) => {
          if (victims[i] === null) return results.shift()!;
          contested.add(a.streamId);
          return new WrongExpectedRevisionError(a.streamId, a.expectedRevision, -2);
        });
      },
    };
    for (const groupId of ['saga-a', 'saga-b']) {
      const runtime = await startSagaRuntime({ store: racing, bus, docs: stack.docs, stepTimeoutMs: 30_000, groupId });
      cleanup.push(() => runtime.stop());
    }
    await stack.inventory.addProduct({ sku: 'MUG-001', name: 'Mug', price: 1200, currency: 'EUR', stock: 1_000 });
    const orders = Array.from({ length: 40 }, (_, i) => `contested-${i}`);
    await Promise.all(orders.map((orderId) => stack.place({ orderId, card: testCards.approve, items: [{ sku: 'MUG-001', quantity: 1 }] })));

    const deadline = Date.now() + 30_000;
    let ended = 0;
    while (Date.now() < deadline) {
      ended = (await store.readAll({ filter: { eventTypes: ['SagaEnded'] } })).length;
      if (ended >= orders.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    for (const orderId of orders) {
      const saga = await store.readStream(`saga-${orderId}`);
      const inputs = saga.map((e) => (e.type === 'SagaStarted' ? (e.data as { inputEventId: string }).inputEventId : e.type === 'SagaTransitioned' ? (e.data as { input: { eventId: string } }).input.eventId : null)).filter((id) => id !== null);
      expect(new Set(inputs).size, `saga ${orderId} applied an input twice`).toBe(inputs.length);
      expect(saga.map((e) => e.type)).toEqual(['SagaStarted', ...Array(5).fill('SagaTransitioned'), 'SagaEnded']);
      expect(saga.at(-1)!.data).toMatchObject({ orderId, status: 'completed' });
    }
    const all = await store.readAll();
    const causes = new Map<string, number>();
    for (const e of all) {
      if (e.streamId.startsWith('saga-') || ['OrderPlaced', 'ProductAdded'].includes(e.type)) continue;
      const key = `${e.metadata.causationId}/${e.type}`;
      causes.set(key, (causes.get(key) ?? 0) + 1);
    }
    expect([...causes].filter(([, n]) => n > 1)).toEqual([]);
    expect(stack.gateway.ledger().captured).toBe(orders.length * 1200);
    expect(ended).toBe(orders.length);
    expect(grouped).toBeGreaterThan(0);
    expect(contested.size).toBeGreaterThan(0);
  });
});
