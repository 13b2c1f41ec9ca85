/**
 * The document store for read models: collections of JSON documents keyed by `id`, with
 * declared indexed fields. Queries may filter and sort only on declared fields, so no query
 * is a full scan, and filters are typed values built by code, never a request body.
 */
export type Scalar = string | number | boolean | null;

export type FieldFilter =
  | Scalar
  | { $in: Scalar[] }
  | { $gt?: Scalar; $gte?: Scalar; $lt?: Scalar; $lte?: Scalar };

export type Filter = Record<string, FieldFilter>;

export interface CollectionSpec {
  name: string;
  /** Top-level or dotted field paths that can be filtered and sorted on. */
  indexes: string[];
  /**
   * Compound indexes, each a list of declared fields (id is appended), so a filter on the
   * first fields sorted by the next one reads the index in order, e.g. `[['status', 'createdAt']]`.
   */
  compound?: string[][];
  /**
   * Creates the collection's fields but not its indexes, for a bulk load into a new
   * collection (a rebuild's shadow): building an index once over the loaded table is far
   * cheaper than keeping it up to date through every write. Opening the collection again
   * without it creates the missing indexes. An adapter may ignore it (indexes early is correct).
   */
  deferIndexes?: boolean;
}

export interface Document {
  id: string;
  [field: string]: unknown;
}

export interface FindOptions {
  filter?: Filter;
  /** Sort on an indexed field; ties are broken by id. Default: by id ascending. */
  sort?: { field: string; direction: 'asc' | 'desc' };
  limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export type WriteOp =
  | { collection: string; op: 'upsert'; doc: Document }
  | { collection: string; op: 'delete'; id: string };

export interface Collection<T extends Document> {
  readonly name: string;
  get(id: string): Promise<T | null>;
  getMany(ids: string[]): Promise<T[]>;
  find(options?: FindOptions): Promise<Page<T>>;
  count(filter?: Filter): Promise<number>;
  upsert(doc: T): Promise<void>;
  delete(id: string): Promise<void>;
}

export class UnindexedFieldError extends Error {
  constructor(readonly collection: string, readonly field: string) {
    super(`collection ${collection}: field '${field}' is not indexed`);
    this.name = 'UnindexedFieldError';
  }
}

export interface DocumentStore {
  /** Opens (and creates with its indexes, if missing) a collection. */
  collection<T extends Document>(spec: CollectionSpec): Promise<Collection<T>>;
  /**
   * Applies the writes and sets the checkpoints in one atomic step: a projector records the
   * position it has applied together with the changes it made. Each op's collection must
   * have been opened with `collection()` on this store (else NotFoundError, and nothing is written).
   */
  write(ops: WriteOp[], checkpoints?: Record<string, string>): Promise<void>;
  getCheckpoint(name: string): Promise<string | undefined>;
  /** Atomically replaces `target` by `source` (drop target, rename source). */
  swapCollection(source: string, target: string): Promise<void>;
  dropCollection(name: string): Promise<void>;
  listCollections(): Promise<string[]>;
  close(): Promise<void>;
}
