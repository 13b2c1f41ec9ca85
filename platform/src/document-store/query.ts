/**
 * What both adapters share: names checked before they become identifiers, filters checked
 * and normalised into conditions (so an adapter builds its query from these, never from the
 * caller's object), and the keyset pagination plan with its opaque cursor.
 */
import { ValidationError } from '../errors';
import { UnindexedFieldError, type CollectionSpec, type Document, type Filter, type FindOptions, type Scalar } from './port';

/** Collection names become SQL table and Mongo collection names: letters, digits, underscore. */
const COLLECTION_NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
/** Field paths become JSON paths and Mongo keys: no `$`, quotes or brackets can get through. */
const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/;

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const MAX_IN_VALUES = 1000;

export function checkCollectionName(name: unknown): string {
  if (typeof name !== 'string' || !COLLECTION_NAME.test(name) || /^sqlite_/i.test(name) || /^system/i.test(name)) {
    throw new ValidationError(`invalid collection name ${JSON.stringify(name)}`, [
      { path: ['collection'], message: 'expected letters, digits and underscores, starting with a letter' },
    ]);
  }
  return name;
}

function checkFieldPath(field: unknown): string {
  if (typeof field !== 'string' || !FIELD_PATH.test(field) || field === '_id' || field.startsWith('_id.')) {
    throw new ValidationError(`invalid field name ${JSON.stringify(field)}`, [
      { path: ['field'], message: 'expected a dotted path of identifiers' },
    ]);
  }
  return field;
}

/** A collection's spec, checked: `fields` may be filtered and sorted on; each index is its fields, then id. */
export interface ResolvedSpec {
  name: string;
  fields: ReadonlySet<string>;
  indexes: string[][];
}

export function resolveSpec(spec: CollectionSpec): ResolvedSpec {
  const name = checkCollectionName(spec.name);
  // `id` is the primary key, indexed already.
  const fields = [...new Set(spec.indexes.map(checkFieldPath))].filter((f) => f !== 'id');
  const indexes = new Map<string, string[]>(fields.map((f) => [f, [f]]));
  for (const compound of spec.compound ?? []) {
    if (compound.length === 0) throw new ValidationError(`collection ${name}: empty compound index`);
    for (const f of compound) {
      if (!fields.includes(checkFieldPath(f))) throw new UnindexedFieldError(name, f);
    }
    indexes.set(indexKey(compound), [...compound]);
  }
  return { name, fields: new Set(fields), indexes: [...indexes.values()] };
}

export const indexKey = (fields: string[]): string => fields.join(',');

export type NonNullScalar = Exclude<Scalar, null>;
export type RangeOp = '$gt' | '$gte' | '$lt' | '$lte';
const RANGE_OPS: readonly string[] = ['$gt', '$gte', '$lt', '$lte'] satisfies RangeOp[];

export type Condition =
  | { field: string; kind: 'eq'; value: Scalar }
  | { field: string; kind: 'in'; values: NonNullScalar[] }
  | { field: string; kind: 'range'; bounds: { op: RangeOp; value: NonNullScalar }[] };

const isScalar = (v: unknown): v is Scalar =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

function rejectValue(field: string, message: string): never {
  throw new ValidationError(`filter on '${field}': ${message}`, [{ path: ['filter', field], message }]);
}

function nonNullScalar(field: string, v: unknown): NonNullScalar {
  if (!isScalar(v) || v === null) rejectValue(field, 'operator values must be strings, finite numbers or booleans');
  return v;
}

/**
 * Checks a filter against the declared fields and turns it into conditions. Only scalars,
 * `{ $in: [scalars] }` and `{ $gt/$gte/$lt/$lte: scalar }` pass: an array or any other
 * object (`{ $ne: … }`, `{ $regex: … }`, nested operators) is rejected, not forwarded.
 */
export function toConditions(spec: ResolvedSpec, filter: Filter | undefined): Condition[] {
  if (filter === undefined) return [];
  if (!isPlainObject(filter)) throw new ValidationError('filter must be an object');
  return Object.keys(filter).map((key): Condition => {
    const field = checkFieldPath(key);
    if (field !== 'id' && !spec.fields.has(field)) throw new UnindexedFieldError(spec.name, field);
    const value: unknown = filter[key];
    if (isScalar(value)) return { field, kind: 'eq', value };
    if (!isPlainObject(value)) rejectValue(field, 'expected a string, finite number, boolean or null');
    const ops = Object.keys(value);
    if (ops.length === 1 && ops[0] === '$in') {
      const list = value.$in;
      if (!Array.isArray(list)) rejectValue(field, '$in expects an array');
      if (list.length > MAX_IN_VALUES) rejectValue(field, `$in accepts at most ${MAX_IN_VALUES} values`);
      return { field, kind: 'in', values: list.map((v) => nonNullScalar(field, v)) };
    }
    if (ops.length > 0 && ops.every((op) => RANGE_OPS.includes(op))) {
      return { field, kind: 'range', bounds: ops.map((op) => ({ op: op as RangeOp, value: nonNullScalar(field, value[op]) })) };
    }
    return rejectValue(field, `unsupported operator(s) ${ops.join(', ') || '(none)'}`);
  });
}

/** Where a page starts, strictly after the last item of the previous page. */
export interface KeysetCursor {
  field: string;
  direction: 'asc' | 'desc';
  value: Scalar;
  id: string;
}

export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify([cursor.field, cursor.direction, cursor.value, cursor.id])).toString('base64url');
}

function decodeCursor(raw: string, sort: SortSpec): KeysetCursor {
  const invalid = () => new ValidationError('invalid cursor', [{ path: ['cursor'], message: 'not a cursor of this query' }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw invalid();
  const [field, direction, value, id] = parsed as unknown[];
  if (field !== sort.field || direction !== sort.direction || !isScalar(value) || typeof id !== 'string') throw invalid();
  return { field: sort.field, direction: sort.direction, value, id };
}

export interface SortSpec {
  field: string;
  direction: 'asc' | 'desc';
}

/**
 * A page is read from up to two ordered segments, because documents whose sort field is
 * null or missing sort first ascending (last descending) and cannot be reached by a
 * `(value, id) > (v, id)` comparison. Each segment is one indexed range query.
 */
export type Segment =
  | { kind: 'ids'; afterId?: string }
  | { kind: 'nulls'; afterId?: string }
  | { kind: 'values'; after?: { value: NonNullScalar; id: string } };

export interface FindPlan {
  conditions: Condition[];
  sort: SortSpec;
  limit: number;
  segments: Segment[];
}

export function planFind(spec: ResolvedSpec, options: FindOptions = {}): FindPlan {
  const conditions = toConditions(spec, options.filter);
  const sort: SortSpec = { field: options.sort?.field ?? 'id', direction: options.sort?.direction ?? 'asc' };
  if (sort.field !== 'id') {
    checkFieldPath(sort.field);
    if (!spec.fields.has(sort.field)) throw new UnindexedFieldError(spec.name, sort.field);
  }
  if (sort.direction !== 'asc' && sort.direction !== 'desc') throw new ValidationError('sort direction must be asc or desc');
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new ValidationError(`limit must be an integer from 1 to ${MAX_LIMIT}`, [{ path: ['limit'], message: 'out of range' }]);
  }
  const cursor = options.cursor ? decodeCursor(options.cursor, sort) : undefined;
  return { conditions, sort, limit, segments: segmentsFor(conditions, sort, cursor) };
}

function segmentsFor(conditions: Condition[], sort: SortSpec, cursor: KeysetCursor | undefined): Segment[] {
  if (sort.field === 'id') return [cursor ? { kind: 'ids', afterId: cursor.id } : { kind: 'ids' }];
  const onSortField = conditions.filter((c) => c.field === sort.field);
  const onlyNulls = onSortField.some((c) => c.kind === 'eq' && c.value === null);
  const noNulls = onSortField.some((c) => !(c.kind === 'eq' && c.value === null));
  const nulls = (afterId?: string): Segment => (afterId === undefined ? { kind: 'nulls' } : { kind: 'nulls', afterId });
  const values = (after?: { value: NonNullScalar; id: string }): Segment => (after ? { kind: 'values', after } : { kind: 'values' });
  let segments: Segment[];
  if (!cursor) segments = sort.direction === 'asc' ? [nulls(), values()] : [values(), nulls()];
  else if (cursor.value === null) segments = sort.direction === 'asc' ? [nulls(cursor.id), values()] : [nulls(cursor.id)];
  else {
    const after = { value: cursor.value, id: cursor.id };
    segments = sort.direction === 'asc' ? [values(after)] : [values(after), nulls()];
  }
  return segments.filter((s) => !(s.kind === 'nulls' && noNulls) && !(s.kind === 'values' && onlyNulls));
}

/** Reads a (dotted) field of a document; missing counts as null, as in both stores' ordering. */
export function fieldValue(doc: Record<string, unknown>, path: string): unknown {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return null;
    value = (value as Record<string, unknown>)[part];
  }
  return value === undefined ? null : value;
}

/** A document to store must be a JSON object with a non-empty string id. */
export function checkDocument(collection: string, doc: unknown): { id: string; json: string } {
  if (!isPlainObject(doc) || typeof doc.id !== 'string' || doc.id.length === 0) {
    throw new ValidationError(`collection ${collection}: a document needs a non-empty string id`, [
      { path: ['id'], message: 'expected a non-empty string' },
    ]);
  }
  return { id: doc.id, json: JSON.stringify(doc) };
}

/** Ids reach a query as values only: a non-string (an object would act as an operator on MongoDB) is refused. */
export function checkId(id: unknown): string {
  if (typeof id !== 'string') throw new ValidationError('a document id must be a string', [{ path: ['id'], message: 'expected a string' }]);
  return id;
}

export function checkIds(ids: unknown): string[] {
  if (!Array.isArray(ids)) throw new ValidationError('ids must be an array of strings', [{ path: ['ids'], message: 'expected an array' }]);
  return [...new Set(ids.map(checkId))];
}

/** The store's version lives beside a document, under this name on MongoDB: a document may not use it. */
export const VERSION_FIELD = '__v';

/** A checked op: its document serialised once, and its expected version. */
export type CheckedOp =
  | { collection: string; op: 'put'; id: string; doc: Document; json: string; expectedVersion: number }
  | { collection: string; op: 'delete'; id: string; expectedVersion: number };

/** Checks a whole batch before anything is written: each op, its version, and one op per document. */
export function checkBatch(
  ops: unknown,
  checkpoints: unknown,
  specOf: (collection: string) => ResolvedSpec,
): { ops: CheckedOp[]; checkpoints: [string, string][] } {
  if (!Array.isArray(ops)) throw new ValidationError('write needs an array of ops');
  const seen = new Set<string>();
  const checked = ops.map((raw: unknown): CheckedOp => {
    const op = (isPlainObject(raw) ? raw : {}) as Record<string, unknown>;
    const collection = specOf(op.collection as string).name;
    const expectedVersion = op.expectedVersion;
    if (typeof expectedVersion !== 'number' || !Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
      throw new ValidationError('expectedVersion must be a whole number >= 0 (0: the document must be absent)');
    }
    let result: CheckedOp;
    if (op.op === 'put') {
      const { id, json } = checkDocument(collection, op.doc);
      if (VERSION_FIELD in (op.doc as object)) throw new ValidationError(`collection ${collection}: '${VERSION_FIELD}' is the store's own field`);
      result = { collection, op: 'put', id, doc: op.doc as Document, json, expectedVersion };
    } else if (op.op === 'delete') {
      if (expectedVersion === 0) throw new ValidationError('a delete needs the version of the document it deletes');
      result = { collection, op: 'delete', id: checkId(op.id), expectedVersion };
    } else {
      throw new ValidationError(`unknown write op ${JSON.stringify(op.op)}`);
    }
    const key = `${collection}\u0000${result.id}`;
    if (seen.has(key)) throw new ValidationError(`a batch writes document ${result.id} of ${collection} twice`);
    seen.add(key);
    return result;
  });
  const marks = Object.entries((checkpoints ?? {}) as Record<string, unknown>).map(([name, value]): [string, string] => {
    if (typeof value !== 'string') throw new ValidationError(`checkpoint ${name} must be a string`);
    return [name, value];
  });
  return { ops: checked, checkpoints: marks };
}
