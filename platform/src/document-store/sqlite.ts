/**
 * Embedded document store: one SQLite file (`readmodels.sqlite`, WAL), one table per
 * collection (`id`, `doc` JSON) with an indexed column per declared field. Every
 * query shape is checked with EXPLAIN QUERY PLAN the first time it is prepared, so a shape
 * that would scan a table fails loudly instead of getting slow.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ConflictError, IllegalStateError, NotFoundError, ValidationError } from '../errors';
import { openSqliteConnection } from '../sqlite/connection';
import type { Collection, CollectionSpec, Document, DocumentStore, Filter, FindOptions, Page, Scalar, Versioned, WriteOp, WriteResult } from './port';
import {
  checkBatch,
  checkCollectionName,
  checkId,
  checkIds,
  encodeCursor,
  type CheckedOp,
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

/** The SQLite adapter adds a test hook: the query plans a find or count would run. */
export interface SqliteDocumentStore extends DocumentStore {
  explainFind(collection: string, options?: FindOptions): string[];
  explainCount(collection: string, filter?: Filter): string[];
}

type Param = string | number | null;
interface Sql {
  text: string;
  params: Param[];
}
interface Row {
  id: string;
  doc: string;
  sv: Scalar;
}

const CHECKPOINTS = '_checkpoints';
/** Index names carry their key and a random token, so a renamed table keeps valid, unique names. */
const INDEX_NAME = /^(.+)@[0-9a-f]{8}$/;

const quote = (identifier: string): string => `"${identifier}"`;
/**
 * Each declared field is a column holding `json_extract(doc, '$.field')`, indexed. Queries name
 * the column rather than repeat the expression: SQLite uses row-value ranges `(col, id) < (?, ?)`
 * on real columns as index bounds, but not on expression indexes, and keyset pages need that.
 *
 * A plain column the writes fill, not a generated one: an UPDATE of `doc` recomputes every
 * generated column over it and so rewrites the entry of every index on them, even when no
 * field changed (measured here on an orders table of 2.4 kB documents and its eight indexes:
 * 74 us per update, 23 us when only `doc` is set). A projected document changes an indexed field
 * on a few of its writes (an order's status once), so an update sets only the fields whose value
 * moved, and the other indexes are left alone.
 */
const expr = (field: string): string => (field === 'id' ? 'id' : quote(`@${field}`));
const extract = (field: string, json: string): string => `json_extract(${json}, '$.${field}')`;
/** better-sqlite3 binds no booleans; JSON booleans read back from json_extract as 1 and 0. */
const bind = (v: Scalar): Param => (typeof v === 'boolean' ? (v ? 1 : 0) : v);
/** Not known from JavaScript alone to be what json_extract makes of a field: its column is always set. */
const UNKNOWN = Symbol('unknown');

/**
 * What `json_extract` returns for a field of a document JSON.stringify wrote, where that is
 * certain: a string, an integer within the safe range, a boolean as 1 or 0, missing, null or a
 * non-finite number as null. Anything else (a fraction, an object or array) is UNKNOWN, so it
 * is always written.
 */
function extracted(doc: Record<string, unknown>, field: string): Param | typeof UNKNOWN {
  const v = fieldValue(doc, field);
  if (v === null || typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  // SQLite reads integer text exactly; a fraction's text it may round differently from JavaScript.
  if (typeof v === 'number') return !Number.isFinite(v) ? null : Number.isSafeInteger(v) ? v : UNKNOWN;
  return UNKNOWN;
}

function conditionSql(c: Condition): Sql {
  const e = expr(c.field);
  switch (c.kind) {
    case 'eq':
      return c.value === null ? { text: `${e} IS NULL`, params: [] } : { text: `${e} = ?`, params: [bind(c.value)] };
    case 'in':
      return { text: `${e} IN (SELECT value FROM json_each(?))`, params: [JSON.stringify(c.values)] };
    case 'range': {
      const ops = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' } as const;
      return {
        text: c.bounds.map((b) => `${e} ${ops[b.op]} ?`).join(' AND '),
        params: c.bounds.map((b) => bind(b.value)),
      };
    }
    default: {
      const never: never = c;
      throw new Error(`unknown condition ${JSON.stringify(never)}`);
    }
  }
}

function whereSql(conditions: Condition[], extra: Sql[] = []): Sql {
  const parts = [...conditions.map(conditionSql), ...extra];
  if (parts.length === 0) return { text: '', params: [] };
  return { text: ` WHERE ${parts.map((p) => p.text).join(' AND ')}`, params: parts.flatMap((p) => p.params) };
}

function segmentSql(table: string, plan: FindPlan, segment: Segment, limit: number): Sql {
  const { field, direction } = plan.sort;
  const dir = direction === 'asc' ? 'ASC' : 'DESC';
  const after = direction === 'asc' ? '>' : '<';
  const e = expr(field);
  const extra: Sql[] = [];
  let order = `${e} ${dir}, id ${dir}`;
  switch (segment.kind) {
    case 'ids':
      order = `id ${dir}`;
      if (segment.afterId !== undefined) extra.push({ text: `id ${after} ?`, params: [segment.afterId] });
      break;
    case 'nulls':
      extra.push({ text: `${e} IS NULL`, params: [] });
      if (segment.afterId !== undefined) extra.push({ text: `id ${after} ?`, params: [segment.afterId] });
      break;
    case 'values':
      extra.push(
        segment.after
          ? { text: `(${e}, id) ${after} (?, ?)`, params: [bind(segment.after.value), segment.after.id] }
          : { text: `${e} IS NOT NULL`, params: [] },
      );
      break;
  }
  const where = whereSql(plan.conditions, extra);
  return {
    text: `SELECT id, doc, ${e} AS sv FROM ${quote(table)}${where.text} ORDER BY ${order} LIMIT ?`,
    params: [...where.params, limit],
  };
}

function countSql(table: string, conditions: Condition[]): Sql {
  const where = whereSql(conditions);
  return { text: `SELECT count(*) AS n FROM ${quote(table)}${where.text}`, params: where.params };
}

/** Thrown inside a write's transaction to roll it back when an op conflicted. */
class RolledBack extends Error {
  constructor(readonly conflicts: WriteResult['conflicts']) {
    super('a write op conflicted');
  }
}

export async function openSqliteDocumentStore(options: { dataDir: string }): Promise<SqliteDocumentStore> {
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  // Documents and checkpoints commit together, and a write answers once a sync of the WAL has
  // it on disk: a projector commits its bus offset only after that, so a power cut cannot
  // leave an offset past a document update it lost.
  const connection = openSqliteConnection(path.join(options.dataDir, 'readmodels.sqlite'), { busyTimeoutMs: 5_000 });
  const db = connection.db;
  db.exec(`CREATE TABLE IF NOT EXISTS ${quote(CHECKPOINTS)} (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT`);

  const specs = new Map<string, ResolvedSpec>();
  const statements = new Map<string, Database.Statement>();

  /** One prepared statement per query shape; a new shape must not plan a table scan. */
  function statement(sqlText: string, guard?: { table: string; params: Param[] }): Database.Statement {
    let stmt = statements.get(sqlText);
    if (!stmt) {
      if (guard) {
        const table = guard.table;
        const scan = planOf(sqlText, guard.params).find((line) => line === `SCAN ${table}`);
        if (scan) throw new IllegalStateError(`query would scan collection ${table}: ${sqlText}`);
      }
      stmt = db.prepare(sqlText);
      statements.set(sqlText, stmt);
    }
    return stmt;
  }

  function planOf(sqlText: string, params: Param[]): string[] {
    const rows = db.prepare(`EXPLAIN QUERY PLAN ${sqlText}`).all(...params) as { detail: string }[];
    return rows.map((r) => r.detail);
  }

  function specOf(name: string): ResolvedSpec {
    const spec = specs.get(checkCollectionName(name));
    if (!spec) throw new NotFoundError(`collection ${name} is not open in this store`);
    return spec;
  }

  function tableExists(name: string): boolean {
    return statement(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
  }

  const tableSql = (table: string, fields: Iterable<string>): string =>
    `CREATE TABLE ${quote(table)} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1${[...fields].map((f) => `, ${expr(f)} ANY`).join('')}) STRICT`;

  const ensureCollection = db.transaction((spec: ResolvedSpec, deferIndexes: boolean) => {
    const table = quote(spec.name);
    if (!tableExists(spec.name)) db.exec(tableSql(spec.name, spec.fields));
    let columns = db.pragma(`table_xinfo(${table})`) as { name: string; hidden: number }[];
    // A table from before versions: each existing document is at version 1.
    if (!columns.some((c) => c.name === 'version')) db.exec(`ALTER TABLE ${table} ADD COLUMN version INTEGER NOT NULL DEFAULT 1`);
    // A table from before plain field columns (generated ones: hidden 2 virtual, 3 stored) is copied
    // into the new shape once, its fields extracted as the generated columns did; its indexes are
    // made again below.
    if (columns.some((c) => c.hidden === 2 || c.hidden === 3)) {
      const fields = columns.filter((c) => c.name.startsWith('@')).map((c) => c.name.slice(1));
      const copy = `${spec.name}__plain`;
      db.exec(`DROP TABLE IF EXISTS ${quote(copy)}`);
      db.exec(tableSql(copy, fields));
      db.exec(
        `INSERT INTO ${quote(copy)} (id, doc, version${fields.map((f) => `, ${expr(f)}`).join('')}) ` +
          `SELECT id, doc, version${fields.map((f) => `, ${extract(f, 'doc')}`).join('')} FROM ${table}`,
      );
      db.exec(`DROP TABLE ${table}`);
      db.exec(`ALTER TABLE ${quote(copy)} RENAME TO ${table}`);
    }
    columns = db.pragma(`table_xinfo(${table})`) as { name: string; hidden: number }[];
    for (const field of spec.fields) {
      if (columns.some((c) => c.name === `@${field}`)) continue;
      db.exec(`ALTER TABLE ${table} ADD COLUMN ${expr(field)} ANY`);
      db.exec(`UPDATE ${table} SET ${expr(field)} = ${extract(field, 'doc')}`);
    }
    if (deferIndexes) return;
    const existing = new Set(
      (statement(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`).all(spec.name) as { name: string }[])
        .map((r) => INDEX_NAME.exec(r.name)?.[1])
        .filter((k): k is string => k !== undefined),
    );
    for (const fields of spec.indexes) {
      const key = indexKey(fields);
      if (existing.has(key)) continue;
      const name = `${key}@${randomBytes(4).toString('hex')}`;
      db.exec(`CREATE INDEX ${quote(name)} ON ${quote(spec.name)} (${[...fields.map(expr), 'id'].join(', ')})`);
    }
  });

  /**
   * One transaction for the batch, all or nothing (`atomicBatches`): each op is a compare-and-set
   * on its version, and if any conflicts, the transaction is rolled back and the conflicts are
   * reported; the checkpoints are set with the ops. A projector's batch (its documents and the
   * summary moved by them) thus lands whole or not at all, even when the process dies between
   * two tries of it.
   */
  const writeTransaction = db.transaction((ops: WriteOp[], checkpoints: Record<string, string> | undefined): WriteResult => {
    const batch = checkBatch(ops, checkpoints, specOf);
    const conflicts: WriteResult['conflicts'] = [];
    refreshColumns();
    for (const op of batch.ops) {
      const table = quote(op.collection);
      let changes: number;
      if (op.op === 'put') {
        const fields = fieldColumnsOf(op.collection);
        changes = op.expectedVersion === 0 ? insert(table, fields, op.id, op.json) : update(table, fields, op);
      } else {
        changes = statement(`DELETE FROM ${table} WHERE id = ? AND version = ?`).run(op.id, op.expectedVersion).changes;
      }
      if (changes === 0) conflicts.push({ collection: op.collection, id: op.id });
    }
    if (conflicts.length > 0) throw new RolledBack(conflicts);
    for (const [name, value] of batch.checkpoints) {
      statement(`INSERT INTO ${quote(CHECKPOINTS)} (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`).run(name, value);
    }
    return { conflicts };
  });

  const writeBatch = {
    immediate(ops: WriteOp[], checkpoints: Record<string, string> | undefined): WriteResult {
      try {
        return writeTransaction.immediate(ops, checkpoints);
      } catch (error) {
        if (error instanceof RolledBack) return { conflicts: error.conflicts };
        throw error;
      }
    },
  };

  /**
   * The field columns of each table as the file has them, which a write fills: they may be more
   * than this process declared (another process's spec), and another process may add one.
   * Dropped whenever the schema changed (a column added, a table swapped in), by any connection.
   */
  const fieldColumns = new Map<string, string[]>();
  let schemaVersion = -1;
  const readSchemaVersion = db.prepare('PRAGMA schema_version').pluck();
  function refreshColumns(): void {
    const now = readSchemaVersion.get() as number;
    if (now !== schemaVersion) fieldColumns.clear();
    schemaVersion = now;
  }
  function fieldColumnsOf(table: string): string[] {
    let fields = fieldColumns.get(table);
    if (!fields) {
      const columns = db.pragma(`table_xinfo(${quote(table)})`) as { name: string }[];
      fields = columns.filter((c) => c.name.startsWith('@')).map((c) => c.name.slice(1));
      fieldColumns.set(table, fields);
    }
    return fields;
  }

  function insert(table: string, fields: string[], id: string, json: string): number {
    const sql =
      `INSERT INTO ${table} (id, doc, version${fields.map((f) => `, ${expr(f)}`).join('')}) ` +
      `VALUES (@id, @doc, 1${fields.map((f) => `, ${extract(f, '@doc')}`).join('')}) ON CONFLICT (id) DO NOTHING`;
    return statement(sql).run({ id, doc: json }).changes;
  }

  /** Compare-and-set on the version; sets only the field columns whose value the new document moves. */
  function update(table: string, fields: string[], op: Extract<CheckedOp, { op: 'put' }>): number {
    const select = `SELECT version${fields.map((f) => `, ${expr(f)}`).join('')} FROM ${table} WHERE id = ?`;
    const row = statement(select).raw().get(op.id) as Param[] | undefined;
    if (row === undefined || row[0] !== op.expectedVersion) return 0;
    const moved = fields.filter((f, i) => {
      const value = extracted(op.doc, f);
      return value === UNKNOWN || value !== row[i + 1];
    });
    const sql = `UPDATE ${table} SET doc = @doc, version = version + 1${moved.map((f) => `, ${expr(f)} = ${extract(f, '@doc')}`).join('')} WHERE id = @id AND version = @version`;
    return statement(sql).run({ id: op.id, doc: op.json, version: op.expectedVersion }).changes;
  }

  const swap = db.transaction((source: string, target: string) => {
    if (!tableExists(source)) throw new NotFoundError(`collection ${source} does not exist`);
    db.exec(`DROP TABLE IF EXISTS ${quote(target)}`);
    db.exec(`ALTER TABLE ${quote(source)} RENAME TO ${quote(target)}`);
  });

  function find<T extends Document>(spec: ResolvedSpec, options?: FindOptions): Page<T> {
    const plan = planFind(spec, options);
    const rows: Row[] = [];
    for (const segment of plan.segments) {
      // One row more than the page tells whether there is a next page.
      const want = plan.limit + 1 - rows.length;
      if (want <= 0) break;
      const sql = segmentSql(spec.name, plan, segment, want);
      rows.push(...(statement(sql.text, { table: spec.name, params: sql.params }).all(...sql.params) as Row[]));
    }
    const page = rows.slice(0, plan.limit);
    const last = page[page.length - 1];
    const nextCursor =
      rows.length > plan.limit && last
        ? encodeCursor({ field: plan.sort.field, direction: plan.sort.direction, value: last.sv, id: last.id })
        : null;
    return { items: page.map((r) => JSON.parse(r.doc) as T), nextCursor };
  }

  /** A handle reads its collection's current spec, and fails once the collection is swapped away or dropped. */
  function openCollection<T extends Document>(table: string): Collection<T> {
    return {
      name: table,
      get: async (id) => {
        specOf(table);
        const row = statement(`SELECT doc FROM ${quote(table)} WHERE id = ?`).get(checkId(id)) as { doc: string } | undefined;
        return row ? (JSON.parse(row.doc) as T) : null;
      },
      getMany: async (ids) => (await versioned(ids)).map((v) => v.doc),
      getVersioned: async (ids) => versioned(ids),
      find: async (options) => find<T>(specOf(table), options),
      count: async (filter) => {
        const sql = countSql(table, toConditions(specOf(table), filter));
        return (statement(sql.text, { table, params: sql.params }).get(...sql.params) as { n: number }).n;
      },
      insert: async (doc) => {
        const { conflicts } = writeBatch.immediate([{ collection: table, op: 'put', doc, expectedVersion: 0 }], undefined);
        await connection.sync();
        if (conflicts.length > 0) throw new ConflictError(`collection ${table}: a document with id ${doc.id} exists`);
      },
    };

    async function versioned(ids: string[]): Promise<Versioned<T>[]> {
      specOf(table);
      const wanted = checkIds(ids);
      const rows = statement(`SELECT id, doc, version FROM ${quote(table)} WHERE id IN (SELECT value FROM json_each(?))`).all(
        JSON.stringify(wanted),
      ) as { id: string; doc: string; version: number }[];
      const byId = new Map(rows.map((r) => [r.id, r]));
      return wanted.flatMap((id) => {
        const row = byId.get(id);
        return row === undefined ? [] : [{ doc: JSON.parse(row.doc) as T, version: row.version }];
      });
    }
  }

  return {
    atomicBatches: true,
    atomicCompareAndSet: true,
    async collection<T extends Document>(spec: CollectionSpec) {
      const resolved = resolveSpec(spec);
      // IMMEDIATE takes the write lock first, so two processes cannot both add a missing index.
      ensureCollection.immediate(resolved, spec.deferIndexes === true);
      await connection.sync();
      specs.set(resolved.name, resolved);
      return openCollection<T>(resolved.name);
    },
    async write(ops, checkpoints) {
      const result = writeBatch.immediate(ops, checkpoints);
      await connection.sync();
      return result;
    },
    async getCheckpoint(name) {
      const row = statement(`SELECT value FROM ${quote(CHECKPOINTS)} WHERE name = ?`).get(name) as { value: string } | undefined;
      return row?.value;
    },
    async swapCollection(source, target) {
      checkCollectionName(source);
      checkCollectionName(target);
      if (source === target) throw new ValidationError('cannot swap a collection with itself');
      swap.immediate(source, target);
      await connection.sync();
      const spec = specs.get(source);
      specs.delete(source);
      if (spec) specs.set(target, { ...spec, name: target });
    },
    async dropCollection(name) {
      checkCollectionName(name);
      db.exec(`DROP TABLE IF EXISTS ${quote(name)}`);
      specs.delete(name);
      await connection.sync();
    },
    async listCollections() {
      const rows = statement(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[];
      return rows.map((r) => r.name).filter((n) => !n.startsWith('_') && !n.startsWith('sqlite_'));
    },
    async close() {
      statements.clear();
      await connection.close();
    },
    explainFind(collection, options) {
      const spec = specOf(collection);
      const plan = planFind(spec, options);
      return plan.segments.flatMap((s) => {
        const sql = segmentSql(spec.name, plan, s, plan.limit + 1);
        return planOf(sql.text, sql.params);
      });
    },
    explainCount(collection, filter) {
      const spec = specOf(collection);
      const sql = countSql(spec.name, toConditions(spec, filter));
      return planOf(sql.text, sql.params);
    },
  };
}
