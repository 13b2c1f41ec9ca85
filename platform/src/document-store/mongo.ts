/**
 * Document store on MongoDB. It needs neither multi-document transactions nor
 * `renameCollection(dropTarget)` (a sharded cluster supports neither well, FerretDB neither),
 * so it runs on a standalone server, a replica set, mongos or FerretDB alike:
 * - every write is a compare-and-set on the document's version (`__v`), one document at a time,
 *   and checkpoints are set after the documents (documents record what they have applied);
 * - a logical collection is a pointer document in `_collections` naming its live generation
 *   (a physical collection `<name>.<token>`); a swap switches the pointer in one write, and the
 *   generation it retires is dropped only after a grace period, so a reader that resolved the
 *   old pointer a moment ago still reads a whole copy;
 * - `_id` is the document's id; one index per declared field or compound, each ending in `_id`
 *   so ties sort by id off the index. Queries are built only from the checked conditions of
 *   ./query, never from the caller's filter object, and pages are keyset ranges, never skip().
 */
import { randomBytes } from 'node:crypto';
import {
  MongoBulkWriteError,
  MongoClient,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  type MongoClientOptions,
  type AnyBulkWriteOperation,
  type Db,
  type Filter as MongoFilter,
  type Sort,
} from 'mongodb';
import { ConflictError, IllegalStateError, NotFoundError, ValidationError } from '../errors';
import type { Collection, CollectionSpec, Document, DocumentStore, FindOptions, Page, Scalar, Versioned, WriteResult } from './port';
import {
  checkBatch,
  checkCollectionName,
  checkId,
  checkIds,
  encodeCursor,
  fieldValue,
  indexKey,
  planFind,
  resolveSpec,
  toConditions,
    type CheckedOp,
  type Condition,
  type FindPlan,
  type ResolvedSpec,
  type Segment,
} from './query';

interface Stored {
  _id: string;
  __v: number;
  [field: string]: unknown;
}
/** A logical collection: its live generation, and the ones a swap retired (dropped after GRACE_MS). */
interface Pointer {
  _id: string;
  live: string;
  /** Objects, not pairs: FerretDB 1.x stores no nested arrays. */
  retired?: { name: string; at: number }[];
}
interface Checkpoint {
  _id: string;
  value: string;
}
type Query = MongoFilter<Stored>;

const CHECKPOINTS = '_checkpoints';
const POINTERS = '_collections';
const NAMESPACE_NOT_FOUND = 26;
const NAMESPACE_EXISTS = 48;
const DUPLICATE_KEY = 11000;
const INDEX_OPTIONS_CONFLICT = 85;
const INDEX_KEY_SPECS_CONFLICT = 86;
/** How long a swapped-out generation stays readable for readers that resolved the pointer before the swap. */
const GRACE_MS = 60_000;
/** How long a reader trusts a resolved pointer; a swap in this process updates it at once. */
const POINTER_TTL_MS = 1_000;

const keyOf = (field: string): string => (field === 'id' ? '_id' : field);

/** The JSON the op was checked as, parsed: exactly what the SQLite adapter stores (dates become ISO strings). */
function toStored(json: string, version: number): Stored {
  const { id, ...rest } = JSON.parse(json) as Document;
  return { _id: id, ...rest, __v: version };
}

function fromStored<T extends Document>(stored: Stored): T {
  const { _id, __v: _version, ...rest } = stored;
  return { id: _id, ...rest } as T;
}

/**
 * One op as a bulk write. A put at version n filters on `{_id, __v: n}` with upsert, so a
 * document at another version makes the upsert collide on `_id` (E11000, reported per op):
 * that is the conflict. A put at 0 is an insert (E11000 if the id exists).
 */
function bulkOp(op: CheckedOp): AnyBulkWriteOperation<Stored> {
  if (op.op === 'delete') return { deleteOne: { filter: { _id: op.id, __v: op.expectedVersion } } };
  const doc = toStored(op.json, op.expectedVersion + 1);
  if (op.expectedVersion === 0) return { insertOne: { document: doc } };
  return { replaceOne: { filter: { _id: op.id, __v: op.expectedVersion }, replacement: doc, upsert: true } };
}

/** Exported for the unit spec: the Mongo query of one checked condition. */
export function conditionQuery(c: Condition): Query {
  const key = keyOf(c.field);
  switch (c.kind) {
    case 'eq':
      return { [key]: c.value };
    case 'in':
      return { [key]: { $in: c.values } };
    case 'range':
      return { [key]: Object.fromEntries(c.bounds.map((b) => [b.op, b.value])) };
    default: {
      const never: never = c;
      throw new Error(`unknown condition ${JSON.stringify(never)}`);
    }
  }
}

const allOf = (parts: Query[]): Query => (parts.length === 0 ? {} : parts.length === 1 ? parts[0]! : { $and: parts });

/** Exported for the unit spec: the Mongo query and sort of one page segment. */
export function segmentQuery(plan: FindPlan, segment: Segment): { query: Query; sort: Sort } {
  const dir = plan.sort.direction === 'asc' ? 1 : -1;
  const after = plan.sort.direction === 'asc' ? '$gt' : '$lt';
  const key = keyOf(plan.sort.field);
  const parts = plan.conditions.map(conditionQuery);
  switch (segment.kind) {
    case 'ids':
      if (segment.afterId !== undefined) parts.push({ _id: { [after]: segment.afterId } });
      return { query: allOf(parts), sort: { _id: dir } };
    case 'nulls':
      parts.push({ [key]: null });
      if (segment.afterId !== undefined) parts.push({ _id: { [after]: segment.afterId } });
      break;
    case 'values':
      parts.push(
        segment.after
          ? // The outer bound gives the planner an index range on the sort key; the $or only trims the ties.
            {
              [key]: { [plan.sort.direction === 'asc' ? '$gte' : '$lte']: segment.after.value },
              $or: [{ [key]: { [after]: segment.after.value } }, { _id: { [after]: segment.after.id } }],
            }
          : { [key]: { $ne: null } },
      );
      break;
  }
  return { query: allOf(parts), sort: { [key]: dir, _id: dir } };
}

const isScalar = (v: unknown): v is Scalar =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

export interface MongoDocumentStoreOptions {
  url: string;
  dbName: string;
  /** Connections per process (the driver's maxPoolSize). Default 8; a `maxPoolSize` in the URL wins. */
  maxPoolSize?: number;
  /** How long opening the store and a collection wait out dropped connections. Default 60 s. */
  dropWaitMs?: number;
}

/**
 * The driver's default pool is 100 connections a process. Twelve processes on one FerretDB held
 * 429 connections at once on the scale spec, against SQLite's one writer and FerretDB's 100
 * SQLite connections a database (see isFerretDb: fewer than 100 client connections in all keep
 * it from hanging; 12 processes x 8 = 96). A process does a few writes at once, not dozens.
 */
const DEFAULT_POOL_SIZE = 8;
const DROP_WAIT_MS = 60_000;

function clientOptions(options: MongoDocumentStoreOptions): MongoClientOptions {
  const inUrl = (name: string) => new RegExp(`[?&]${name}=`, 'i').test(options.url);
  return {
    serverSelectionTimeoutMS: 10_000,
    ...(inUrl('maxPoolSize') ? {} : { maxPoolSize: options.maxPoolSize ?? DEFAULT_POOL_SIZE }),
  };
}

/**
 * A connection dropped under an operation ("MongoNetworkError: connection N closed", or reset):
 * the server is there (selection found it), so the operation is tried again on a new connection.
 * What runs here at open is idempotent (connect, hello, creating a pointer, collection or index
 * that may exist). An unreachable server is not waited out twice: selection already waited.
 */
export const isDroppedConnection = (error: unknown): boolean => error instanceof MongoNetworkError && !(error instanceof MongoServerSelectionError);

/**
 * FerretDB 1.x (SQLite) holds a SQLite connection for each statement of an update command until
 * the whole command ends (handler/msg_update.go defers each statement's read iterator close
 * inside its loop), and needs one more for each statement's write transaction, out of a pool of
 * 100 per database. One bulk of 100 replaces, or a few concurrent ones adding up to 100, wait
 * for each other for good: the whole server hangs (seen on the scale spec: 100 open reads,
 * 42 commands waiting for a connection for 5 minutes; 99 replaces in one bulk pass, 101 hang).
 * There each update goes in a command of its own, so a connection holds at most one such read:
 * with fewer than 100 client connections in all (see DEFAULT_POOL_SIZE), some always write.
 */
async function isFerretDb(client: MongoClient): Promise<boolean> {
  const info = await client.db('admin').command({ buildInfo: 1 });
  return 'ferretdbVersion' in info || 'ferretdbFeatures' in info;
}
/** Commands one write sends at once when it is split (on FerretDB): a few, never the whole pool. */
const COMMANDS_AT_ONCE = 4;

async function whileDropped<T>(operation: () => Promise<T>, since: number, waitMs: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isDroppedConnection(error) || Date.now() - since > waitMs) throw error;
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
    }
  }
}

/**
 * Needs no replica set: without transactions nothing here does (on a standalone server
 * `majority` is simply the one node). `hello` at open makes an unreachable or non-MongoDB
 * server fail here, with the URL named, rather than at the first write.
 */
export async function openMongoDocumentStore(options: MongoDocumentStoreOptions): Promise<DocumentStore> {
  const opened = Date.now();
  const waitMs = options.dropWaitMs ?? DROP_WAIT_MS;
  const client = await whileDropped(() => MongoClient.connect(options.url, clientOptions(options)), opened, waitMs);
  try {
    await whileDropped(() => client.db('admin').command({ hello: 1 }), opened, waitMs);
  } catch (error) {
    await client.close();
    throw new IllegalStateError(`MongoDB at ${options.url.replace(/\/\/[^@/]*@/, '//***@')} did not answer hello: ${String(error)}`);
  }
  const db: Db = client.db(options.dbName);
  const ferretDb = await whileDropped(() => isFerretDb(client), opened, waitMs);
  const statementsPerCommand = ferretDb ? 1 : Number.POSITIVE_INFINITY;
  const specs = new Map<string, ResolvedSpec>();
  const resolved = new Map<string, { physical: string; at: number }>();

  function specOf(name: string): ResolvedSpec {
    const spec = specs.get(checkCollectionName(name));
    if (!spec) throw new NotFoundError(`collection ${name} is not open in this store`);
    return spec;
  }

  const physicalOf = (name: string) => db.collection<Stored>(name);
  const checkpoints = db.collection<Checkpoint>(CHECKPOINTS);
  const pointers = db.collection<Pointer>(POINTERS);

  async function physicalExists(name: string): Promise<boolean> {
    return (await db.listCollections({ name }, { nameOnly: true }).toArray()).length > 0;
  }

  /** The live generation of a logical collection; `fresh` skips the short-lived cache (writes, swaps). */
  async function resolve(name: string, fresh = false): Promise<string | null> {
    const cached = resolved.get(name);
    if (!fresh && cached && Date.now() - cached.at < POINTER_TTL_MS) return cached.physical;
    const pointer = await pointers.findOne({ _id: name });
    if (!pointer) {
      resolved.delete(name);
      return null;
    }
    resolved.set(name, { physical: pointer.live, at: Date.now() });
    return pointer.live;
  }

  async function live(name: string, fresh = false) {
    const physical = await resolve(name, fresh);
    if (!physical) throw new NotFoundError(`collection ${name} does not exist`);
    return physicalOf(physical);
  }

  /** Creates a logical collection's first generation, or adopts a plain collection of that name from before pointers. */
  async function ensurePointer(name: string): Promise<string> {
    const existing = await resolve(name, true);
    if (existing) return existing;
    const physical = (await physicalExists(name)) ? name : `${name}.${randomBytes(4).toString('hex')}`;
    if (physical !== name) await db.createCollection(physical).catch(ignoreCode(NAMESPACE_EXISTS));
    try {
      await pointers.insertOne({ _id: name, live: physical });
    } catch (error) {
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
      // Another process created it meanwhile: theirs is the one.
      if (physical !== name) await db.dropCollection(physical).catch(ignoreCode(NAMESPACE_NOT_FOUND));
    }
    const live = await resolve(name, true);
    if (!live) throw new IllegalStateError(`collection ${name}: its pointer vanished while it was created`);
    return live;
  }

  /**
   * Creates the indexes a spec needs that are missing, compared by key: an index with the same
   * key under another name or options (made by hand, or by an older version) serves as well,
   * and creating it again would fail the open (85/86).
   */
  async function ensureIndexes(physical: string, spec: ResolvedSpec): Promise<void> {
    if (spec.indexes.length === 0) return;
    const wanted = spec.indexes.map((fields) => ({
      key: Object.fromEntries([...fields.map((f) => [f, 1] as const), ['_id', 1] as const]) as Record<string, 1>,
      name: `by:${indexKey(fields)}`,
    }));
    const keyOfIndex = (key: Record<string, unknown>) => JSON.stringify(Object.entries(key));
    const present = async () => new Set((await physicalOf(physical).listIndexes().toArray()).map((i) => keyOfIndex(i.key as Record<string, unknown>)));
    const have = await present();
    const missing = wanted.filter((w) => !have.has(keyOfIndex(w.key)));
    if (missing.length === 0) return;
    try {
      await physicalOf(physical).createIndexes(missing);
    } catch (error) {
      const code = error instanceof MongoServerError ? error.code : undefined;
      if (code !== INDEX_OPTIONS_CONFLICT && code !== INDEX_KEY_SPECS_CONFLICT) throw error;
      // Created meanwhile by another process under another name: fine if every key is there now.
      const now = await present();
      const absent = missing.filter((w) => !now.has(keyOfIndex(w.key)));
      if (absent.length > 0) throw error;
    }
  }

  async function find<T extends Document>(name: string, spec: ResolvedSpec, options?: FindOptions): Promise<Page<T>> {
    const plan = planFind(spec, options);
    const collection = await live(name);
    const docs: T[] = [];
    for (const segment of plan.segments) {
      // One document more than the page tells whether there is a next page.
      const want = plan.limit + 1 - docs.length;
      if (want <= 0) break;
      const { query, sort } = segmentQuery(plan, segment);
      const found = await collection.find(query, { sort, limit: want }).toArray();
      docs.push(...found.map((d) => fromStored<T>(d)));
    }
    const page = docs.slice(0, plan.limit);
    const last = page[page.length - 1];
    if (docs.length <= plan.limit || !last) return { items: page, nextCursor: null };
    const value = fieldValue(last, plan.sort.field);
    if (!isScalar(value)) throw new IllegalStateError(`collection ${spec.name}: sort field '${plan.sort.field}' holds a non-scalar value`);
    return { items: page, nextCursor: encodeCursor({ field: plan.sort.field, direction: plan.sort.direction, value, id: last.id }) };
  }

  /** Applies one collection's ops; returns the ids that were not at their expected version. */
  async function applyOps(collection: string, ops: CheckedOp[]): Promise<string[]> {
    const target = await live(collection, true);
    if (ferretDb) return applyOpsByIdLookup(target, ops);
    const conflicts: string[] = [];
    // Deletes one by one: a bulk result counts deletions, it does not say which op deleted.
    for (const op of ops) {
      if (op.op === 'delete' && (await target.deleteOne({ _id: op.id, __v: op.expectedVersion })).deletedCount === 0) conflicts.push(op.id);
    }
    const puts = ops.filter((op) => op.op === 'put');
    if (puts.length === 0) return conflicts;
    const upserted: CheckedOp[] = [];
    await inCommands(puts, async (chunk) => {
      try {
        // Unordered: the ops touch distinct documents (checkBatch), and one conflict must not stop the rest.
        for (const index of Object.keys((await target.bulkWrite(chunk.map(bulkOp), { ordered: false })).upsertedIds)) upserted.push(chunk[Number(index)]!);
      } catch (error) {
        if (!(error instanceof MongoBulkWriteError)) throw error;
        const errors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
        const other = errors.find((e) => e.code !== DUPLICATE_KEY);
        if (other) throw error;
        for (const e of errors) conflicts.push(chunk[e.index]!.id);
        for (const index of Object.keys(error.result.upsertedIds)) upserted.push(chunk[Number(index)]!);
      }
    });
    // A put at version n that upserted found no document at all (deleted meanwhile): a
    // conflict too, so the document it wrongly created goes again.
    for (const op of upserted) {
      if (op.expectedVersion === 0) continue;
      await target.deleteOne({ _id: op.id, __v: op.expectedVersion + 1 });
      conflicts.push(op.id);
    }
    return conflicts;
  }

  /**
   * On FerretDB: each op's version is read by an `{_id}` lookup and the op is written with an
   * `{_id}` filter, both served by the id index. A filter of `{_id, __v}` makes FerretDB 1.x read
   * and decode the whole collection for every op (a replace 9-97 ms against 3-30 ms by `{_id}`
   * at 100-1,500 documents, by hand under load). FerretDB's own check is not atomic either: it
   * reads the document, then writes in a transaction of its own without checking again (see the
   * contract's nonAtomicCompareAndSet), and its window, a whole-collection read, is longer than
   * this one round trip.
   */
  async function applyOpsByIdLookup(target: ReturnType<typeof physicalOf>, ops: CheckedOp[]): Promise<string[]> {
    const conflicts: string[] = [];
    await inCommands(ops, async ([op]) => {
      if (!op) return;
      if (op.op === 'put' && op.expectedVersion === 0) {
        try {
          await target.insertOne(toStored(op.json, 1));
        } catch (error) {
          if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
          conflicts.push(op.id);
        }
        return;
      }
      const current = await target.findOne({ _id: op.id }, { projection: { __v: 1 } });
      if (!current || (current.__v ?? 1) !== op.expectedVersion) return void conflicts.push(op.id);
      const done =
        op.op === 'delete'
          ? (await target.deleteOne({ _id: op.id })).deletedCount
          : (await target.replaceOne({ _id: op.id }, toStored(op.json, op.expectedVersion + 1))).matchedCount;
      // Deleted between the lookup and the write: a conflict, as at any other version.
      if (done === 0) conflicts.push(op.id);
    }, 1);
    return conflicts;
  }

  /**
   * Sends a batch's statements in commands of at most `statementsPerCommand`, a few commands at
   * a time (each on a connection of its own), waiting for all before it returns or throws.
   */
  async function inCommands<T>(items: T[], send: (chunk: T[]) => Promise<void>, perCommand = statementsPerCommand): Promise<void> {
    const chunks: T[][] = [];
    for (let i = 0; i < items.length; i += perCommand) chunks.push(items.slice(i, i + perCommand));
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) await send(chunks[next++]!);
    };
    const lanes = await Promise.allSettled(Array.from({ length: Math.min(COMMANDS_AT_ONCE, chunks.length) }, lane));
    const failed = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async function write(ops: unknown, marks?: Record<string, string>): Promise<WriteResult> {
    const batch = checkBatch(ops, marks, specOf);
    const byCollection = new Map<string, CheckedOp[]>();
    for (const op of batch.ops) byCollection.set(op.collection, [...(byCollection.get(op.collection) ?? []), op]);
    const conflicts: WriteResult['conflicts'] = [];
    for (const [collection, group] of byCollection) {
      for (const id of await applyOps(collection, group)) conflicts.push({ collection, id });
    }
    if (conflicts.length > 0 || batch.checkpoints.length === 0) return { conflicts };
    // After the documents: a crash before this leaves the documents, which a redelivery finds applied.
    await inCommands(batch.checkpoints, async (chunk) => {
      await checkpoints.bulkWrite(chunk.map(([name, value]) => ({ updateOne: { filter: { _id: name }, update: { $set: { value } }, upsert: true } })));
    });
    return { conflicts };
  }

  /** A handle reads its collection's current spec, and fails once the collection is swapped away or dropped. */
  function openCollection<T extends Document>(name: string): Collection<T> {
    const versioned = async (ids: string[]): Promise<Versioned<T>[]> => {
      specOf(name);
      const wanted = checkIds(ids);
      const collection = await live(name);
      const byId = new Map<string, Stored>();
      if (ferretDb) {
        // FerretDB 1.x on SQLite looks up an id by index only for a filter that is `{_id}` alone;
        // `$in` reads the whole collection (370 ms at 1,500 documents, a lookup 5 ms).
        await inCommands(wanted, async ([id]) => {
          const doc = await collection.findOne({ _id: id! });
          if (doc) byId.set(doc._id, doc);
        }, 1);
      } else {
        for (const doc of await collection.find({ _id: { $in: wanted } }).toArray()) byId.set(doc._id, doc);
      }
      return wanted.flatMap((id) => {
        const doc = byId.get(id);
        return doc ? [{ doc: fromStored<T>(doc), version: doc.__v ?? 1 }] : [];
      });
    };
    return {
      name,
      get: async (id) => {
        specOf(name);
        const doc = await (await live(name)).findOne({ _id: checkId(id) });
        return doc ? fromStored<T>(doc) : null;
      },
      getMany: async (ids) => (await versioned(ids)).map((v) => v.doc),
      getVersioned: versioned,
      find: async (options) => find<T>(name, specOf(name), options),
      count: async (filter) => (await live(name)).countDocuments(allOf(toConditions(specOf(name), filter).map(conditionQuery))),
      insert: async (doc) => {
        const { conflicts } = await write([{ collection: name, op: 'put', doc, expectedVersion: 0 }]);
        if (conflicts.length > 0) throw new ConflictError(`collection ${name}: a document with id ${doc.id} exists`);
      },
    };
  }

  async function dropPhysical(names: string[]): Promise<void> {
    for (const n of names) await db.dropCollection(n).catch(ignoreCode(NAMESPACE_NOT_FOUND));
  }

  return {
    // Ops apply one by one (FerretDB has no transactions; MongoDB would need a replica set for them).
    atomicBatches: false,
    atomicCompareAndSet: !ferretDb,
    async collection<T extends Document>(spec: CollectionSpec) {
      const resolvedSpec = resolveSpec(spec);
      const since = Date.now();
      const physical = await whileDropped(() => ensurePointer(resolvedSpec.name), since, waitMs);
      if (!spec.deferIndexes) await whileDropped(() => ensureIndexes(physical, resolvedSpec), since, waitMs);
      specs.set(resolvedSpec.name, resolvedSpec);
      return openCollection<T>(resolvedSpec.name);
    },
    write: (ops, marks) => write(ops, marks),
    async getCheckpoint(name) {
      return (await checkpoints.findOne({ _id: name }))?.value;
    },
    async swapCollection(source, target) {
      checkCollectionName(source);
      checkCollectionName(target);
      if (source === target) throw new ValidationError('cannot swap a collection with itself');
      const from = await pointers.findOne({ _id: source });
      if (!from) throw new NotFoundError(`collection ${source} does not exist`);
      const old = await pointers.findOne({ _id: target });
      const now = Date.now();
      const retired = [...(old?.retired ?? []), ...(old ? [{ name: old.live, at: now }] : [])];
      const expired = retired.filter((r) => now - r.at >= GRACE_MS).map((r) => r.name);
      // The source's pointer goes first: a crash between the two writes leaves the target as it
      // was and an orphaned generation, never two pointers to one generation.
      await pointers.deleteOne({ _id: source });
      // One write switches every reader of the target to the new generation.
      await pointers.replaceOne(
        { _id: target },
        { live: from.live, retired: retired.filter((r) => !expired.includes(r.name)) },
        { upsert: true },
      );
      resolved.delete(source);
      resolved.set(target, { physical: from.live, at: now });
      await dropPhysical(expired);
      const spec = specs.get(source);
      specs.delete(source);
      if (spec) specs.set(target, { ...spec, name: target });
    },
    async dropCollection(name) {
      checkCollectionName(name);
      const pointer = await pointers.findOne({ _id: name });
      if (pointer) {
        await pointers.deleteOne({ _id: name });
        await dropPhysical([pointer.live, ...(pointer.retired ?? []).map((r) => r.name)]);
      }
      resolved.delete(name);
      specs.delete(name);
    },
    async listCollections() {
      return (await pointers.find({}, { projection: { _id: 1 } }).toArray()).map((p) => p._id).sort();
    },
    async close() {
      await client.close();
    },
  };
}

function ignoreCode(code: number): (error: unknown) => void {
  return (error) => {
    if (!(error instanceof MongoServerError && error.code === code)) throw error;
  };
}
