import { ConflictError } from '@saga/platform/errors';
import type { Collection, Document, DocumentStore } from '@saga/platform/document-store/port';
import type { RebuildProgress } from './rebuild';

/**
 * One rebuild of a projection at a time, across every gateway (R1): the rebuild holds a lease
 * document per projection in the document store, taken by an insert (only one insert of an id
 * succeeds), renewed and released by compare-and-set on its version. A holder that died stops
 * renewing; after `ttlMs` another may take the lease over.
 *
 * The lease also tells projector replicas that start during a swap to stay paused (`handover`),
 * and carries the holder's latest progress, so every gateway can show a rebuild another runs.
 */
export interface LeaseDoc extends Document {
  projection: string;
  holder: string;
  rebuildId: string;
  state: 'building' | 'handover';
  renewedAt: number;
  /** Counts the swaps of this projection's collection: the projectors resume on the next one. */
  generation: number;
  progress: RebuildProgress | null;
}

export const LEASES = { name: 'rebuild_leases', indexes: [] as string[] };
export const LEASE_TTL_MS = 30_000;

export const leaseCollection = (store: DocumentStore): Promise<Collection<LeaseDoc>> => store.collection<LeaseDoc>(LEASES);

/** A lease this process holds: each change a compare-and-set on the version it last wrote. */
export interface HeldLease {
  readonly doc: LeaseDoc;
  update(change: Partial<Pick<LeaseDoc, 'state' | 'progress' | 'generation'>>): Promise<void>;
  release(): Promise<void>;
}

export async function currentLease(store: DocumentStore, projection: string, now = Date.now()): Promise<LeaseDoc | null> {
  const doc = await (await leaseCollection(store)).get(projection);
  return doc && now - doc.renewedAt < LEASE_TTL_MS ? doc : null;
}

export async function acquireLease(
  store: DocumentStore,
  claim: { projection: string; holder: string; rebuildId: string },
  now: () => number = Date.now,
): Promise<HeldLease> {
  const leases = await leaseCollection(store);
  const [existing] = await leases.getVersioned([claim.projection]);
  if (existing && now() - existing.doc.renewedAt < LEASE_TTL_MS) {
    throw new ConflictError(`projection ${claim.projection} is already being rebuilt (by ${existing.doc.holder}, since ${new Date(existing.doc.progress?.startedAt ?? existing.doc.renewedAt).toISOString()})`);
  }
  let doc: LeaseDoc = {
    id: claim.projection,
    ...claim,
    state: 'building',
    renewedAt: now(),
    generation: existing?.doc.generation ?? 0,
    progress: null,
  };
  // A stale lease (its holder died) is taken over at the version read; a free one is inserted.
  let version = existing?.version ?? 0;
  const { conflicts } = await store.write([{ collection: LEASES.name, op: 'put', doc, expectedVersion: version }]);
  if (conflicts.length > 0) throw new ConflictError(`projection ${claim.projection} is already being rebuilt (another gateway started just now)`);
  version++;
  let lost = false;
  let writing: Promise<void> = Promise.resolve();
  const write = (next: LeaseDoc) =>
    (writing = writing.then(async () => {
      if (lost) return;
      const result = await store.write([{ collection: LEASES.name, op: 'put', doc: next, expectedVersion: version }]);
      if (result.conflicts.length > 0) {
        lost = true;
        return;
      }
      version++;
      doc = next;
    }));
  // Renewed while held, so a live holder's lease never looks stale; unref'd, it never holds the process open.
  const renewal = setInterval(() => void write({ ...doc, renewedAt: now() }).catch(() => undefined), LEASE_TTL_MS / 6);
  renewal.unref();
  return {
    get doc() {
      return doc;
    },
    async update(change) {
      await write({ ...doc, ...change, renewedAt: now() });
      if (lost) throw new ConflictError(`the rebuild lease of ${claim.projection} was taken over by another gateway`);
    },
    async release() {
      clearInterval(renewal);
      await writing.catch(() => undefined);
      if (!lost) await store.write([{ collection: LEASES.name, op: 'delete', id: claim.projection, expectedVersion: version }]);
    },
  };
}
