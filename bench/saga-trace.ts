/**
 * `bench:saga -- --breakdown`: where an order's time goes between placing it and SagaEnded.
 *
 * The store and the bus the stack runs on are wrapped (nothing else changes): every append is
 * timed from its call to its durable answer, every publish from its call to its answer, every
 * delivery to a consumer group at the moment its handler is called. The hops of one saga step
 * are then joined by ids the messages carry (an event's id, a command's id, an input's id):
 *
 *   service append (call -> durable) -> relay reads it (durable -> publish call) -> relay publish
 *   -> saga consumer handler -> saga append call -> saga append durable -> dispatcher reads it
 *   -> dispatcher publish -> service consumer handler -> the service's append call -> ...
 *
 * Each hop is printed with its count per order, mean, p50 and p99, and the mean per order
 * (count x mean), so the hops that add up to the latency stand out.
 */
import type { NewEvent } from '@saga/event-schemas/envelope';
import type { EventStore, StreamAppend } from '@saga/platform/event-store/port';
import type { BusMessage, ConsumerOptions, MessageBus, OutgoingMessage, TopicMessages } from '@saga/platform/message-bus/port';
import { monitorEventLoopDelay } from 'node:perf_hooks';

interface Append {
  t0: number;
  t1: number;
  streamId: string;
}
interface Publish {
  t0: number;
  t1: number;
  by: string;
}

export class SagaTrace {
  on = false;
  /** By event id: its append. */
  private readonly appended = new Map<string, Append & { type: string; causationId: string | undefined; commands: string[]; inputEventId: string | undefined }>();
  /** By event id (relay) or command id (dispatcher): its publish. */
  private readonly published = new Map<string, Publish>();
  /** By `${group} ${id}`: when its handler was called. */
  private readonly delivered = new Map<string, number>();
  /** Appends by the command that caused them, in order. */
  private readonly byCausation = new Map<string, string[]>();
  private readonly loop = monitorEventLoopDelay({ resolution: 1 });

  start(): void {
    this.on = true;
    this.appended.clear();
    this.published.clear();
    this.delivered.clear();
    this.byCausation.clear();
    this.loop.reset();
    this.loop.enable();
  }

  stop(): void {
    this.on = false;
    this.loop.disable();
  }

  private recordAppends(appends: StreamAppend[], t0: number, t1: number): void {
    for (const a of appends) {
      for (const e of a.events as NewEvent[]) {
        const data = e.data as { commands?: { commandId: string }[]; inputEventId?: string; input?: { eventId?: string } };
        const causationId = (e.metadata as { causationId?: string }).causationId;
        this.appended.set(e.eventId, {
          t0,
          t1,
          streamId: a.streamId,
          type: e.type,
          causationId,
          commands: (data.commands ?? []).map((c) => c.commandId),
          inputEventId: data.inputEventId ?? data.input?.eventId,
        });
        if (causationId) {
          const list = this.byCausation.get(causationId);
          if (list) list.push(e.eventId);
          else this.byCausation.set(causationId, [e.eventId]);
        }
      }
    }
  }

  store(store: EventStore): EventStore {
    const trace = this;
    return new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'append') {
          return async (streamId: string, events: NewEvent[], options?: Parameters<EventStore['append']>[2]) => {
            const t0 = performance.now();
            const result = await target.append(streamId, events, options);
            if (trace.on) trace.recordAppends([{ streamId, events, expectedRevision: 'any' }], t0, performance.now());
            return result;
          };
        }
        if (prop === 'appendMany' && target.appendMany) {
          return async (appends: StreamAppend[]) => {
            const t0 = performance.now();
            const results = await target.appendMany!(appends);
            if (trace.on) trace.recordAppends(appends, t0, performance.now());
            return results;
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  private recordPublish(batches: TopicMessages[], by: string, t0: number, t1: number): void {
    for (const b of batches) for (const m of b.messages) this.published.set(idOf(m), { t0, t1, by });
  }

  bus(bus: MessageBus): MessageBus {
    const trace = this;
    return new Proxy(bus, {
      get(target, prop, receiver) {
        if (prop === 'publishMany') {
          return async (batches: TopicMessages[], options?: Parameters<MessageBus['publishMany']>[1]) => {
            const t0 = performance.now();
            await target.publishMany(batches, options);
            if (trace.on) trace.recordPublish(batches, options?.checkpoint?.name ?? 'direct', t0, performance.now());
          };
        }
        if (prop === 'publish') {
          return async (topic: string, messages: OutgoingMessage[], options?: Parameters<MessageBus['publish']>[2]) => {
            const t0 = performance.now();
            await target.publish(topic, messages, options);
            if (trace.on) trace.recordPublish([{ topic, messages }], options?.checkpoint?.name ?? 'direct', t0, performance.now());
          };
        }
        if (prop === 'consume') {
          return (options: ConsumerOptions) => {
            const seen = (messages: BusMessage[]) => {
              if (!trace.on) return;
              const now = performance.now();
              for (const m of messages) {
                const key = `${options.groupId} ${idOf(m)}`;
                if (!trace.delivered.has(key)) trace.delivered.set(key, now);
              }
            };
            const { handler, batchHandler } = options;
            return target.consume({
              ...options,
              ...(handler
                ? {
                    handler: (m: BusMessage) => {
                      seen([m]);
                      return handler(m);
                    },
                  }
                : {}),
              ...(batchHandler
                ? {
                    batchHandler: (ms: BusMessage[]) => {
                      seen(ms);
                      return batchHandler(ms);
                    },
                  }
                : {}),
            });
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** The hops, joined by ids, as lines to print. `orders`: how many orders the trace covered. */
  report(orders: number, watchGroup: string): string[] {
    const hops = new Map<string, number[]>();
    const add = (name: string, ms: number) => {
      if (!Number.isFinite(ms)) return;
      let xs = hops.get(name);
      if (!xs) hops.set(name, (xs = []));
      xs.push(ms);
    };
    const serviceOf = (streamId: string) => streamId.slice(0, streamId.indexOf('-'));
    for (const [eventId, a] of this.appended) {
      const isSaga = a.streamId.startsWith('saga-');
      add(isSaga ? 'saga append (call -> durable)' : `${serviceOf(a.streamId)} append (call -> durable)`, a.t1 - a.t0);
      const relayed = this.published.get(eventId);
      if (relayed) {
        add('relay: append durable -> publish call', relayed.t0 - a.t1);
        add('relay publish (call -> answer)', relayed.t1 - relayed.t0);
        const atSaga = this.delivered.get(`saga-orchestrator ${eventId}`);
        if (atSaga !== undefined) add('bus: relay publish answer -> saga handler', atSaga - relayed.t1);
        if (a.type === 'SagaEnded') {
          const watched = this.delivered.get(`${watchGroup} ${eventId}`);
          if (watched !== undefined) add('bus: SagaEnded publish answer -> bench watcher', watched - relayed.t1);
        }
      }
      if (isSaga && a.inputEventId) {
        const input = this.delivered.get(`saga-orchestrator ${a.inputEventId}`);
        if (input !== undefined && a.type !== 'SagaEnded') add('saga: handler -> append call', a.t0 - input);
      }
      for (const commandId of a.commands) {
        const sent = this.published.get(commandId);
        if (!sent) continue;
        add('dispatcher: saga append durable -> publish call', sent.t0 - a.t1);
        add('dispatcher publish (call -> answer)', sent.t1 - sent.t0);
        for (const [key, at] of this.delivered) {
          if (!key.endsWith(` ${commandId}`) || key.startsWith('saga-orchestrator')) continue;
          const group = key.slice(0, key.indexOf(' '));
          add(`bus: dispatcher publish answer -> ${group} handler`, at - sent.t1);
          const caused = this.byCausation.get(commandId) ?? [];
          const first = caused.map((id) => this.appended.get(id)!).sort((x, y) => x.t0 - y.t0)[0];
          if (first) add(`${group}: handler -> first append call`, first.t0 - at);
          if (caused.length > 1) {
            const all = caused.map((id) => this.appended.get(id)!).sort((x, y) => x.t0 - y.t0);
            add(`${group}: first append durable -> last append call`, all[all.length - 1]!.t0 - all[0]!.t1);
          }
        }
      }
    }
    const lines = [`breakdown over ${orders} orders (ms; per order = count/order x mean):`];
    const rows = [...hops].map(([name, xs]) => {
      xs.sort((a, b) => a - b);
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
      return { name, n: xs.length / orders, mean, p50: xs[Math.floor(xs.length / 2)]!, p99: xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]! };
    });
    rows.sort((a, b) => b.n * b.mean - a.n * a.mean);
    for (const r of rows) {
      lines.push(
        `  ${r.name.padEnd(58)} ${r.n.toFixed(2).padStart(5)}/order  mean ${r.mean.toFixed(2).padStart(6)}  p50 ${r.p50.toFixed(2).padStart(6)}  p99 ${r.p99.toFixed(2).padStart(7)}  per order ${(r.n * r.mean).toFixed(2).padStart(6)}`,
      );
    }
    lines.push(
      `  event loop delay: mean ${(this.loop.mean / 1e6).toFixed(2)} ms, p50 ${(this.loop.percentile(50) / 1e6).toFixed(2)}, p99 ${(this.loop.percentile(99) / 1e6).toFixed(2)}, max ${(this.loop.max / 1e6).toFixed(2)}`,
    );
    return lines;
  }
}

/** What joins a message to the rest: an event's id (relay), a command's id (dispatcher), else its value. */
function idOf(m: OutgoingMessage): string {
  const v = JSON.parse(m.value) as { eventId?: string; commandId?: string };
  return v.commandId ?? v.eventId ?? m.value;
}
