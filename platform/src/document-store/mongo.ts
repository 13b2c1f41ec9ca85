/**
 * Document store on MongoDB (a replica set, for transactions): `_id` is the document's id,
 * one index per declared field or compound, each ending in `_id` so ties sort by id off the
 * index. Queries are built only from the checked conditions of ./query, never from the
 * caller's filter object, and pages are keyset ranges, never skip().
 */
import { MongoClient, MongoServerError, type AnyBulkWriteOperation, type Db, type Filter as MongoFilter, type Sort } from 'mongodb';
import { IllegalStateError, NotFoundError, ValidationError } from '../errors';
import type { Collection, CollectionSpec, Document, DocumentStore, FindOptions, Page, Scalar, WriteOp } from './port';
import {
  checkCollectionName,
  checkDocument,
  encodeCursor,
  fieldValue,
  indexKey,
  planFind,
  resolveSpec,
  toConditions,
  type Condition,
  type FindPlan,
  type ResolvedSpec,
  type Segment,
} from './query';

interface Stored {
  _id: string;
  [field: string]: unknown;
}
interface Checkpoint {
  _id: string;
  value: string;
}
type Query = MongoFilter<Stored>;

const CHECKPOINTS = '_checkpoints';
const NAMESPACE_NOT_FOUND = 26;

const keyOf = (field: string): string => (field === 'id' ? '_id' : field);

function toStored(collection: string, doc: unknown): Stored {
  // A JSON round trip stores exactly what the SQLite adapter stores (dates become ISO strings).
  const { json } = checkDocument(collection, doc);
  const { id, ...rest } = JSON.parse(json) as Document;
  return { _id: id, ...rest };
}

function fromStored<T extends Document>(stored: Stored): T {
  const { _id, ...rest } = stored;
  return { id: _id, ...rest } as T;
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

export async function openMongoDocumentStore(options: { url: string; dbName: string }): Promise<DocumentStore> {
  const client = await MongoClient.connect(options.url);
  const db: Db = client.db(options.dbName);
  const specs = new Map<string, ResolvedSpec>();

  function specOf(name: string): ResolvedSpec {
    const spec = specs.get(checkCollectionName(name));
    if (!spec) throw new NotFoundError(`collection ${name} is not open in this store`);
    return spec;
  }

  const stored = (name: string) => db.collection<Stored>(name);
  const checkpoints = db.collection<Checkpoint>(CHECKPOINTS);

  async function exists(name: string): Promise<boolean> {
    return (await db.listCollections({ name }, { nameOnly: true }).toArray()).length > 0;
  }

  async function find<T extends Document>(spec: ResolvedSpec, options?: FindOptions): Promise<Page<T>> {
    const plan = planFind(spec, options);
    const docs: T[] = [];
    for (const segment of plan.segments) {
      // One document more than the page tells whether there is a next page.
      const want = plan.limit + 1 - docs.length;
      if (want <= 0) break;
      const { query, sort } = segmentQuery(plan, segment);
      const found = await stored(spec.name).find(query, { sort, limit: want }).toArray();
      docs.push(...found.map((d) => fromStored<T>(d)));
    }
    const page = docs.slice(0, plan.limit);
    const last = page[page.length - 1];
    if (docs.length <= plan.limit || !last) return { items: page, nextCursor: null };
    const value = fieldValue(last, plan.sort.field);
    if (!isScalar(value)) throw new IllegalStateError(`collection ${spec.name}: sort field '${plan.sort.field}' holds a non-scalar value`);
    return { items: page, nextCursor: encodeCursor({ field: plan.sort.field, direction: plan.sort.direction, value, id: last.id }) };
  }

  /** Groups consecutive ops on one collection into one ordered bulk write; checks every op first. */
  function bulkGroups(ops: WriteOp[]): { collection: string; ops: AnyBulkWriteOperation<Stored>[] }[] {
    const groups: { collection: string; ops: AnyBulkWriteOperation<Stored>[] }[] = [];
    for (const op of ops) {
      const name = specOf(op.collection).name;
      let bulk: AnyBulkWriteOperation<Stored>;
      if (op.op === 'upsert') {
        const doc = toStored(name, op.doc);
        bulk = { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
      } else if (op.op === 'delete') {
        if (typeof op.id !== 'string') throw new ValidationError('delete needs a string id');
        bulk = { deleteOne: { filter: { _id: op.id } } };
      } else {
        throw new ValidationError(`unknown write op ${JSON.stringify((op as { op: unknown }).op)}`);
      }
      const current = groups[groups.length - 1];
      if (current && current.collection === name) current.ops.push(bulk);
      else groups.push({ collection: name, ops: [bulk] });
    }
    return groups;
  }

  async function write(ops: WriteOp[], marks: Record<string, string> = {}): Promise<void> {
    const groups = bulkGroups(ops);
    for (const [name, value] of Object.entries(marks)) {
      if (typeof value !== 'string') throw new ValidationError(`checkpoint ${name} must be a string`);
    }
    if (groups.length === 0 && Object.keys(marks).length === 0) return;
    await client.withSession((session) =>
      session.withTransaction(async () => {
        // Sequential on purpose: operations of one session must not run concurrently.
        for (const group of groups) await stored(group.collection).bulkWrite(group.ops, { session, ordered: true });
        const entries = Object.entries(marks);
        if (entries.length > 0) {
          await checkpoints.bulkWrite(
            entries.map(([name, value]) => ({ updateOne: { filter: { _id: name }, update: { $set: { value } }, upsert: true } })),
            { session },
          );
        }
      }),
    );
  }

  /** A handle reads its collection's current spec, and fails once the collection is swapped away or dropped. */
  function openCollection<T extends Document>(name: string): Collection<T> {
    return {
      name,
      get: async (id) => {
        specOf(name);
        const doc = await stored(name).findOne({ _id: id });
        return doc ? fromStored<T>(doc) : null;
      },
      getMany: async (ids) => {
        specOf(name);
        const docs = await stored(name).find({ _id: { $in: [...new Set(ids)] } }).toArray();
        const byId = new Map(docs.map((d) => [d._id, d]));
        return [...new Set(ids)].flatMap((id) => {
          const doc = byId.get(id);
          return doc ? [fromStored<T>(doc)] : [];
        });
      },
      find: async (options) => find<T>(specOf(name), options),
      count: async (filter) => stored(name).countDocuments(allOf(toConditions(specOf(name), filter).map(conditionQuery))),
      upsert: async (doc) => write([{ collection: name, op: 'upsert', doc }]),
      delete: async (id) => write([{ collection: name, op: 'delete', id }]),
    };
  }

  return {
    async collection<T extends Document>(spec: CollectionSpec) {
      const resolved = resolveSpec(spec);
      if (!(await exists(resolved.name))) await db.createCollection(resolved.name).catch(ignoreCode(48)); // NamespaceExists: created meanwhile
      if (resolved.indexes.length > 0) {
        await stored(resolved.name).createIndexes(
          resolved.indexes.map((fields) => ({
            key: Object.fromEntries([...fields.map((f) => [f, 1] as const), ['_id', 1] as const]),
            name: `by:${indexKey(fields)}`,
          })),
        );
      }
      specs.set(resolved.name, resolved);
      return openCollection<T>(resolved.name);
    },
    write,
    async getCheckpoint(name) {
      return (await checkpoints.findOne({ _id: name }))?.value;
    },
    async swapCollection(source, target) {
      checkCollectionName(source);
      checkCollectionName(target);
      if (source === target) throw new ValidationError('cannot swap a collection with itself');
      try {
        // One rename with dropTarget: readers see the old collection or the new one, never none.
        await db.renameCollection(source, target, { dropTarget: true });
      } catch (error) {
        if (error instanceof MongoServerError && error.code === NAMESPACE_NOT_FOUND) {
          throw new NotFoundError(`collection ${source} does not exist`);
        }
        throw error;
      }
      const spec = specs.get(source);
      specs.delete(source);
      if (spec) specs.set(target, { ...spec, name: target });
    },
    async dropCollection(name) {
      checkCollectionName(name);
      await db.dropCollection(name).catch(ignoreCode(NAMESPACE_NOT_FOUND));
      specs.delete(name);
    },
    async listCollections() {
      const all = await db.listCollections({}, { nameOnly: true }).toArray();
      return all
        .map((c) => c.name)
        .filter((n) => !n.startsWith('_') && !n.startsWith('system.'))
        .sort();
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
