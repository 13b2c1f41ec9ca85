import { randomUUID } from 'node:crypto';
import type { Document, DocumentStore } from '@saga/platform/document-store/port';
import type { BusMessage, Consumer, MessageBus } from '@saga/platform/message-bus/port';
import type { HeldLease } from './lease';
import type { Handover, LiveProjector } from './rebuild';

/**
 * The hand-over of a live collection between a rebuild and the projector replicas, in
 * whatever processes they run (R1, issue 15.5). Commands and acknowledgements travel on one
 * control topic of the bus; who must acknowledge is the roster, a document per running
 * replica in the document store, heart-beaten while it runs.
 *
 *   rebuild: lease -> `handover`; roster read; `pause` (repeated until every replica on the
 *            roster said `paused`); last catch-up; swap; generation + 1; `resume`.
 *   replica: on `pause`, stops its consumer (the batch in flight lands and commits), says
 *            `paused`; on `resume`, starts again against the swapped-in collection.
 *
 * No replica escapes: one joins the roster before it reads the lease, and the rebuild sets the
 * lease before it reads the roster, so a replica the rebuild does not wait for has seen the
 * lease in `handover` and starts paused. A paused replica whose rebuild died (its lease gone
 * or stale) resumes by itself.
 */
export const CONTROL_TOPIC = 'control.projectors';
export const REPLICAS = { name: 'projector_replicas', indexes: ['projection'] };
/** A replica heart-beats its roster entry this often; one silent for three beats is taken for dead. */
export const HEARTBEAT_MS = 2_000;
const REPEAT_MS = 300;

export type ControlMessage =
  | { kind: 'pause' | 'resume'; projection: string; rebuildId: string; generation: number }
  | { kind: 'paused' | 'resumed'; projection: string; rebuildId: string; replica: string }
  | { kind: 'hello'; projection: string; replica: string };

export interface ReplicaDoc extends Document {
  projection: string;
  replica: string;
  state: 'running' | 'paused';
  seenAt: number;
}

export const encodeControl = (m: ControlMessage) => ({ key: m.projection, value: JSON.stringify(m) });
export function decodeControl(message: BusMessage): ControlMessage | null {
  try {
    const m = JSON.parse(message.value) as ControlMessage;
    return typeof m?.kind === 'string' && typeof m.projection === 'string' ? m : null;
  } catch {
    return null;
  }
}

export async function ensureControlTopic(bus: MessageBus): Promise<void> {
  // One partition: every command and acknowledgement in one order.
  await bus.createTopics([{ name: CONTROL_TOPIC, partitions: 1 }]);
}

/** The replicas of a projection alive now: those whose heartbeat is recent. */
export async function rosterOf(store: DocumentStore, projection: string, now = Date.now()): Promise<ReplicaDoc[]> {
  const replicas = await store.collection<ReplicaDoc>(REPLICAS);
  const page = await replicas.find({ filter: { projection }, limit: 1000 });
  return page.items.filter((r) => now - r.seenAt < 3 * HEARTBEAT_MS);
}

export interface HandoverOptions {
  bus: MessageBus;
  store: DocumentStore;
  projection: string;
  lease: HeldLease;
  /** How long the replicas have to acknowledge a pause before the rebuild gives up (nothing swapped). */
  timeoutMs?: number;
}

/** The rebuild's side: the live projector, as every replica of it in every process. */
export function busHandover(options: HandoverOptions): LiveProjector {
  const { bus, store, projection, lease } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const rebuildId = lease.doc.rebuildId;
  let consumer: Consumer | undefined;
  const acks = { paused: new Set<string>(), resumed: new Set<string>() };
  let wake: () => void = () => undefined;

  const listen = async () => {
    await ensureControlTopic(bus);
    consumer = await bus.consume({
      groupId: `rebuild-control.${randomUUID()}`,
      topics: [CONTROL_TOPIC],
      startFrom: 'latest',
      // Named afresh at each start: nothing of it is kept once it stops.
      ephemeral: true,
      handler: async (message) => {
        const m = decodeControl(message);
        if (!m || m.projection !== projection || !('replica' in m) || !('rebuildId' in m) || m.rebuildId !== rebuildId) return;
        if (m.kind === 'paused' || m.kind === 'resumed') acks[m.kind].add(m.replica);
        wake();
      },
    });
  };

  /** Publishes the command until every replica on the roster has acknowledged it. */
  const converge = async (kind: 'pause' | 'resume', onHandover?: (h: Handover) => void, within = timeoutMs) => {
    const ack = kind === 'pause' ? acks.paused : acks.resumed;
    const deadline = Date.now() + within;
    for (;;) {
      // Read every round: a replica that joins meanwhile must acknowledge too.
      const roster = (await rosterOf(store, projection)).map((r) => r.replica);
      const acknowledged = roster.filter((r) => ack.has(r)).length;
      const all = acknowledged === roster.length;
      onHandover?.({ state: kind === 'pause' ? (all ? 'paused' : 'pausing') : all ? 'resumed' : 'resuming', replicas: roster.length, acknowledged });
      if (acknowledged === roster.length) return;
      if (Date.now() > deadline) {
        const silent = roster.filter((r) => !ack.has(r));
        throw new Error(`projector replicas of ${projection} did not acknowledge ${kind} within ${within} ms: ${silent.join(', ')}`);
      }
      await bus.publish(CONTROL_TOPIC, [encodeControl({ kind, projection, rebuildId, generation: lease.doc.generation })]);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, REPEAT_MS);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  };

  return {
    async stop(onHandover) {
      // The lease first, then the roster: see the module comment.
      await lease.update({ state: 'handover' });
      await listen();
      await converge('pause', onHandover);
    },
    async start(onHandover) {
      try {
        await lease.update({ state: 'building', generation: lease.doc.generation + 1 });
        // A replica resumes by itself at the latest once the lease is released (it watches it):
        // waiting for the acknowledgements only shows them, so briefly.
        await converge('resume', onHandover, 5_000).catch(() => undefined);
      } finally {
        await consumer?.stop();
        consumer = undefined;
      }
    },
  };
}
