import { randomUUID } from 'node:crypto';
import type { LineItem } from '@saga/event-schemas/ids';
import type { Document, DocumentStore } from '@saga/platform/document-store/port';
import type { Aggregate } from '../shared/command-handler';
import type { Logger } from '../shared/runtime';
import type { InventoryState, ProductStock } from './state';

/**
 * Snapshots of the one `inventory-warehouse` stream. Every reservation appends to it, so its
 * length grows with the orders ever placed (136k events in a 1M-event log), and folding it
 * from revision 0 took 3.3 s at every start, before the first price lookup or reservation.
 * A snapshot is the folded aggregate at a revision; a start loads it and reads only the
 * events after it. The events stay the truth: a snapshot that is missing a part, of another
 * shape or ahead of the stream is ignored and the stream folded from the start.
 *
 * Stored as parts, so no document nears MongoDB's 16 MB limit and a save costs little: the
 * state (products and held reservations, small), then the handled command ids in chunks. A
 * full chunk never changes, so this process writes it once and later snapshots list it again;
 * only the state and the last, partial chunk are written each time. The parts are written
 * under new ids first, then the head is switched to them by compare-and-set, then the parts
 * the old head listed and the new one does not are removed: a crash between leaves a few
 * unreferenced parts, never a head without its parts.
 */
export interface WarehouseSnapshots {
  load(): Promise<Aggregate<InventoryState> | null>;
  /** Saves the aggregate as it is when called (serialized before the promise is returned). */
  save(aggregate: Aggregate<InventoryState>): Promise<void>;
}

/** Bump when InventoryState or evolve changes meaning: older snapshots are then ignored. */
const SHAPE = 1;
const IDS_PER_CHUNK = 20_000;
const HEAD = 'inventory-warehouse';

interface Head extends Document {
  revision: number;
  shape: number;
  /** The state part first, then the chunks of handled command ids, in order. */
  parts: string[];
  handled: number;
  savedAt: string;
}
interface Part extends Document {
  body: string;
}
interface StatePart {
  products: ProductStock[];
  reservations: [string, readonly LineItem[]][] | null;
}

export async function openWarehouseSnapshots(
  docs: DocumentStore,
  logger: Logger,
  options: { clock?: () => Date; idsPerChunk?: number } = {},
): Promise<WarehouseSnapshots> {
  const clock = options.clock ?? (() => new Date());
  const idsPerChunk = options.idsPerChunk ?? IDS_PER_CHUNK;
  const heads = await docs.collection<Head>({ name: 'snapshot_heads', indexes: [] });
  const parts = await docs.collection<Part>({ name: 'snapshot_parts', indexes: [] });
  const newPartId = () => `${HEAD}@${randomUUID()}`;
  /** The full chunks this process has written, in order (their ids), to list again. */
  let fullChunks: string[] = [];

  async function drop(ids: string[]): Promise<void> {
    const existing = await parts.getVersioned(ids);
    if (existing.length > 0) await docs.write(existing.map(({ doc, version }) => ({ collection: parts.name, op: 'delete', id: doc.id, expectedVersion: version })));
  }

  return {
    async load() {
      const head = await heads.get(HEAD);
      if (!head || head.shape !== SHAPE || !Array.isArray(head.parts) || head.parts.length === 0) return null;
      const found = new Map((await parts.getMany(head.parts)).map((p) => [p.id, p.body]));
      if (found.size !== head.parts.length) {
        logger('warn', 'warehouse snapshot is missing parts; folding the stream from the start', { revision: head.revision });
        return null;
      }
      const statePart = JSON.parse(found.get(head.parts[0]!)!) as StatePart;
      const handledCommands = new Set<string>();
      for (const id of head.parts.slice(1)) for (const commandId of JSON.parse(found.get(id)!) as string[]) handledCommands.add(commandId);
      if (handledCommands.size !== head.handled) {
        logger('warn', 'warehouse snapshot does not add up; folding the stream from the start', { revision: head.revision });
        return null;
      }
      const state: InventoryState =
        statePart.reservations === null
          ? { status: 'empty' }
          : { status: 'stocked', products: new Map(statePart.products.map((p) => [p.sku, p])), reservations: new Map(statePart.reservations) };
      return { state, revision: head.revision, handledCommands };
    },

    save(aggregate) {
      const { state, revision, handledCommands } = aggregate;
      const statePart: StatePart =
        state.status === 'empty' ? { products: [], reservations: null } : { products: [...state.products.values()], reservations: [...state.reservations] };
      // Ids past the chunks already written, in the set's (insertion, i.e. stream) order.
      const rest: string[] = [];
      let skip = fullChunks.length * idsPerChunk;
      for (const id of handledCommands) if (skip-- <= 0) rest.push(id);
      const known = [...fullChunks];
      const written: { id: string; body: string; full: boolean }[] = [{ id: newPartId(), body: JSON.stringify(statePart), full: false }];
      for (let i = 0; i < rest.length; i += idsPerChunk) {
        const chunk = rest.slice(i, i + idsPerChunk);
        written.push({ id: newPartId(), body: JSON.stringify(chunk), full: chunk.length === idsPerChunk });
      }
      const listed = [written[0]!.id, ...known, ...written.slice(1).map((p) => p.id)];
      const handled = handledCommands.size;
      return (async () => {
        const [current] = await heads.getVersioned([HEAD]);
        if (current && current.doc.shape === SHAPE && current.doc.revision >= revision) return;
        // Another process switched the head away from our chunks and may have removed them: write all again next time.
        if (known.length > 0 && !(current?.doc.parts ?? []).includes(known[0]!)) {
          fullChunks = [];
          return;
        }
        await docs.write(written.map((p) => ({ collection: parts.name, op: 'put', doc: { id: p.id, body: p.body }, expectedVersion: 0 })));
        const { conflicts } = await docs.write([
          { collection: heads.name, op: 'put', doc: { id: HEAD, revision, shape: SHAPE, parts: listed, handled, savedAt: clock().toISOString() }, expectedVersion: current?.version ?? 0 },
        ]);
        if (conflicts.length > 0) return drop(written.map((p) => p.id));
        fullChunks = [...known, ...written.slice(1).filter((p) => p.full).map((p) => p.id)];
        if (current) await drop(current.doc.parts.filter((id) => !listed.includes(id)));
      })();
    },
  };
}

