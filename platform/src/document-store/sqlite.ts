/**
 * Embedded document store: one SQLite file (`readmodels.sqlite`, WAL), one table per
 * collection (`id`, `doc` JSON) with an indexed virtual column per declared field. Every
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
 * Each declared field is a virtual generated column over the JSON, indexed. Queries name the
 * column rather than repeat the expression: SQLite uses row-value ranges `(col, id) < (?, ?)`
 * on real columns as index bounds, but not on expression indexes, and keyset pages need that.
 */
const expr = (field: string): string => (field === 'id' ? 'id' : quote(`@${field}`));
const columnDef = (field: string, kind: 'VIRTUAL' | 'STORED'): string => `${expr(field)} ANY AS (json_extract(doc, '$.${field}')) ${kind}`;
/** better-sqlite3 binds no booleans; JSON booleans read back from json_extract as 1 and 0. */
const bind = (v: Scalar): Param => (typeof v === 'boolean' ? (v ? 1 : 0) : v);

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

  const ensureCollection = db.transaction((spec: ResolvedSpec, deferIndexes: boolean) => {
    // A new table stores its fields' values: each write parses its document once for all of
    // them, where virtual columns parse it again for every index an insert, an update or a
    // CREATE INDEX touches. Measured on 74,000 orders of 2.4 kB: loading then building six
    // indexes took 5.5 s with virtual columns, 3.2 s with stored ones (the load itself is slower).
    // SQLite can only add virtual columns to an existing table, so a field declared later is one.
    const fieldColumns = [...spec.fields].map((field) => `, ${columnDef(field, 'STORED')}`).join('');
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${quote(spec.name)} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1${fieldColumns}) STRICT`,
    );
    const columns = new Set((db.pragma(`table_xinfo(${quote(spec.name)})`) as { name: string }[]).map((c) => c.name));
    // A table from before versions: each existing document is at version 1.
    if (!columns.has('version')) db.exec(`ALTER TABLE ${quote(spec.name)} ADD COLUMN version INTEGER NOT NULL DEFAULT 1`);
    for (const field of spec.fields) {
      if (!columns.has(`@${field}`)) db.exec(`ALTER TABLE ${quote(spec.name)} ADD COLUMN ${columnDef(field, 'VIRTUAL')}`);
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
   * One transaction for the batch (cheaper than one per document, and atomic here, which the
   * port does not promise): each op is a compare-and-set on its version, a conflicting op is
   * skipped and reported, and the checkpoints are set only when none conflicted.
   */
  const writeBatch = db.transaction((ops: WriteOp[], checkpoints: Record<string, string> | undefined): WriteResult => {
    const batch = checkBatch(ops, checkpoints, specOf);
    const conflicts: WriteResult['conflicts'] = [];
    for (const op of batch.ops) {
      const table = quote(op.collection);
      let changes: number;
      if (op.op === 'put') {
        changes =
          op.expectedVersion === 0
            ? statement(`INSERT INTO ${table} (id, doc, version) VALUES (?, ?, 1) ON CONFLICT (id) DO NOTHING`).run(op.id, op.json).changes
            : statement(`UPDATE ${table} SET doc = ?, version = version + 1 WHERE id = ? AND version = ?`).run(op.json, op.id, op.expectedVersion).changes;
      } else {
        changes = statement(`DELETE FROM ${table} WHERE id = ? AND version = ?`).run(op.id, op.expectedVersion).changes;
      }
      if (changes === 0) conflicts.push({ collection: op.collection, id: op.id });
    }
    if (conflicts.length > 0) return { conflicts };
    for (const [name, value] of batch.checkpoints) {
      statement(`INSERT INTO ${quote(CHECKPOINTS)} (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`).run(name, value);
    }
    return { conflicts };
  });

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
