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

/**
 * Every write is a compare-and-set on the document's version, which the store keeps beside
 * the document (never inside it): 0 means "absent", and each write adds one. Two writers that
 * read one version cannot both write it, so neither loses the other's update (the loser reloads
 * and re-applies), and no multi-document transaction is needed.
 */
export type WriteOp =
  | { collection: string; op: 'put'; doc: Document; expectedVersion: number }
  | { collection: string; op: 'delete'; id: string; expectedVersion: number };

export interface Versioned<T extends Document> {
  doc: T;
  version: number;
}

export interface WriteResult {
  /** The ops whose document was not at its expected version: not applied. */
  conflicts: { collection: string; id: string }[];
}

export interface Collection<T extends Document> {
  readonly name: string;
  get(id: string): Promise<T | null>;
  getMany(ids: string[]): Promise<T[]>;
  /** The documents that exist among `ids`, each with its version, for a compare-and-set write. */
  getVersioned(ids: string[]): Promise<Versioned<T>[]>;
  find(options?: FindOptions): Promise<Page<T>>;
  count(filter?: Filter): Promise<number>;
  /** Inserts a document whose id must be free: ConflictError if one exists (another writer got there first). */
  insert(doc: T): Promise<void>;
}

export class UnindexedFieldError extends Error {
  constructor(readonly collection: string, readonly field: string) {
    super(`collection ${collection}: field '${field}' is not indexed`);
    this.name = 'UnindexedFieldError';
  }
}

export interface DocumentStore {
  /**
   * true: a write is all or nothing (SQLite: one transaction), so when an op conflicts no op of
   * the batch is applied. false: ops apply one by one as below (MongoDB without transactions).
   */
  readonly atomicBatches: boolean;
  /**
   * true: a put or delete at an expected version is one isolated step, so of two writers racing
   * for one version exactly one wins. false (FerretDB 1.x: its update reads, then writes by id
   * without checking again): both may win, and one's update is lost, so a document must have
   * one writer at a time (the projector runs one replica of a projection at a time there).
   */
  readonly atomicCompareAndSet: boolean;
  /** Opens (and creates with its indexes, if missing) a collection. */
  collection<T extends Document>(spec: CollectionSpec): Promise<Collection<T>>;
  /**
   * Applies each op on its own (atomic per document; across documents only if `atomicBatches`),
   * then sets the checkpoints, only if no op conflicted. Documents record what they have applied, so a
   * crash between two ops or before the checkpoint leaves nothing that a redelivery would
   * apply twice. Every op is checked before any is written: a bad op (ValidationError), an
   * op on a collection not opened with `collection()` (NotFoundError) or two ops on one
   * document reject the whole batch, and nothing is written.
   */
  write(ops: WriteOp[], checkpoints?: Record<string, string>): Promise<WriteResult>;
  getCheckpoint(name: string): Promise<string | undefined>;
  /**
   * Atomically replaces `target` by `source`: a reader sees the old or the new copy, never
   * none. (MongoDB: a pointer document switches to the source's generation.)
   */
  swapCollection(source: string, target: string): Promise<void>;
  dropCollection(name: string): Promise<void>;
  listCollections(): Promise<string[]>;
  close(): Promise<void>;
}
