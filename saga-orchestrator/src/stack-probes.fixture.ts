/**
 * What the whole-stack saga specs read back from the event store: how a saga ended, the
 * states it passed through, and what each order's streams hold. One copy for every spec.
 */
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `store` is read at each call, so the probes can be made before the stack starts. */
export function stackProbes(store: () => EventStore) {
  const types = async (streamId: string) => (await store().readStream(streamId)).map((e) => e.type);
  const sagaOf = (orderId: string) => store().readStream(streamIdFor.saga(orderId));
  const statesOf = async (orderId: string) =>
    (await sagaOf(orderId))
      .filter((e) => e.type !== 'SagaEnded')
      .map((e) => (e.data as { to?: string; state?: string }).to ?? (e.data as { state: string }).state);
  return {
    sagaOf,
    statesOf,
    ending: (orderId: string) =>
      until(`the saga of ${orderId} to end`, async () => {
        const ended = (await sagaOf(orderId)).find((e) => e.type === 'SagaEnded');
        return ended ? (ended.data as { status: string; flags: string[] }) : undefined;
      }),
    inState: (orderId: string, state: string) =>
      until(`the saga of ${orderId} to wait in ${state}`, async () => ((await statesOf(orderId)).at(-1) === state ? true : undefined)),
    orderEvents: (orderId: string) => types(streamIdFor.order(orderId)),
    paymentEvents: (orderId: string) => types(streamIdFor.payment(orderId)),
    /** The inventory events that concern one order. */
    stockHeldBy: async (orderId: string) =>
      (await store().readStream(streamIdFor.inventory()))
        .filter((e: RecordedEvent) => (e.data as { orderId?: string }).orderId === orderId)
        .map((e) => e.type),
    /** Each email as `<event>:<template>`. */
    emails: async (orderId: string) =>
      (await store().readStream(streamIdFor.email(orderId))).map((e) => `${e.type}:${(e.data as { template: string }).template}`),
  };
}
