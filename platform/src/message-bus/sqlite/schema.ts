import type Database from 'better-sqlite3';

/** The embedded bus's tables: topics and their partitions, the log, group offsets, membership and leases, checkpoints. */
export function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS bus_topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_partitions (
      topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
      PRIMARY KEY (topic, partition)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_messages (
      topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
      key TEXT NOT NULL, value TEXT NOT NULL, headers TEXT, timestamp INTEGER NOT NULL,
      PRIMARY KEY (topic, partition, offset));
    CREATE TABLE IF NOT EXISTS bus_offsets (
      group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, committed INTEGER NOT NULL,
      PRIMARY KEY (group_id, topic, partition)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_members (
      group_id TEXT NOT NULL, member_id TEXT NOT NULL, topics TEXT NOT NULL, expires_at INTEGER NOT NULL,
      PRIMARY KEY (group_id, member_id)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_leases (
      group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, owner TEXT NOT NULL, expires_at INTEGER NOT NULL,
      PRIMARY KEY (group_id, topic, partition)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS bus_ephemeral_groups (group_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL) WITHOUT ROWID;
  `);
  // Where each member runs (host and PID namespace, and its PID), so that a member on the same
  // host whose process is gone is told from one that is only slow; added to older files.
  db.transaction(() => {
    const columns = new Set((db.pragma('table_info(bus_members)') as { name: string }[]).map((c) => c.name));
    if (!columns.has('host')) db.exec('ALTER TABLE bus_members ADD COLUMN host TEXT');
    if (!columns.has('pid')) db.exec('ALTER TABLE bus_members ADD COLUMN pid INTEGER');
  }).immediate();
}

/** A fetched row, named as a BusMessage so it becomes one in place (one object per message). */
export interface MessageRow {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  value: string;
  headers: string | null | Record<string, string>;
  timestamp: number;
}

export function prepareStatements(db: Database.Database) {
  return {
    topic: db.prepare<[string], { partitions: number }>('SELECT partitions FROM bus_topics WHERE name = ?'),
    insertTopic: db.prepare('INSERT INTO bus_topics (name, partitions) VALUES (?, ?)'),
    insertPartition: db.prepare('INSERT INTO bus_partitions (topic, partition, next_offset) VALUES (?, ?, 0)'),
    nextOffsets: db.prepare<[string], { partition: number; next_offset: number }>(
      'SELECT partition, next_offset FROM bus_partitions WHERE topic = ? ORDER BY partition',
    ),
    setNextOffset: db.prepare('UPDATE bus_partitions SET next_offset = ? WHERE topic = ? AND partition = ?'),
    insertMessage: db.prepare(
      'INSERT INTO bus_messages (topic, partition, offset, key, value, headers, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    fetch: db.prepare<[string, number, string, number, number, number], MessageRow>(
      `SELECT ? AS topic, ? AS partition, offset, key, value, headers, timestamp FROM bus_messages
       WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?`,
    ),
    partitionEnds: db.prepare<[], { topic: string; partition: number; next_offset: number }>(
      'SELECT topic, partition, next_offset FROM bus_partitions',
    ),
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    upsertCheckpoint: db.prepare(
      'INSERT INTO bus_checkpoints (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    ),
    checkpoint: db.prepare<[string], { value: string }>('SELECT value FROM bus_checkpoints WHERE name = ?'),
    initOffset: db.prepare(
      'INSERT INTO bus_offsets (group_id, topic, partition, committed) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    committed: db.prepare<[string, string, number], { committed: number }>(
      'SELECT committed FROM bus_offsets WHERE group_id = ? AND topic = ? AND partition = ?',
    ),
    // Fenced: only the member holding the partition's lease may move its offset.
    commit: db.prepare(`UPDATE bus_offsets SET committed = ?
      WHERE group_id = ? AND topic = ? AND partition = ?
        AND EXISTS (SELECT 1 FROM bus_leases l WHERE l.group_id = bus_offsets.group_id AND l.topic = bus_offsets.topic
                    AND l.partition = bus_offsets.partition AND l.owner = ?)`),
    setOffset: db.prepare(`INSERT INTO bus_offsets (group_id, topic, partition, committed) VALUES (?, ?, ?, ?)
      ON CONFLICT (group_id, topic, partition) DO UPDATE SET committed = excluded.committed`),
    lag: db.prepare<[string], { topic: string; partition: number; committed: number; next_offset: number }>(
      `SELECT o.topic, o.partition, o.committed, p.next_offset FROM bus_offsets o
       JOIN bus_partitions p ON p.topic = o.topic AND p.partition = o.partition
       WHERE o.group_id = ? ORDER BY o.topic, o.partition`,
    ),
    upsertMember: db.prepare(`INSERT INTO bus_members (group_id, member_id, topics, expires_at, host, pid) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (group_id, member_id) DO UPDATE SET topics = excluded.topics, expires_at = excluded.expires_at`),
    /** Other processes' live-looking members on this host, to check that their process still exists. */
    membersOnHost: db.prepare<[string, string, number, number], { member_id: string; pid: number }>(
      'SELECT member_id, pid FROM bus_members WHERE group_id = ? AND host = ? AND pid IS NOT NULL AND pid != ? AND expires_at >= ?',
    ),
    /** A member whose process is gone: it and its leases expire now. */
    expireMember: db.prepare('UPDATE bus_members SET expires_at = 0 WHERE group_id = ? AND member_id = ?'),
    expireLeasesOf: db.prepare('UPDATE bus_leases SET expires_at = 0 WHERE group_id = ? AND owner = ?'),
    dropExpiredMembers: db.prepare('DELETE FROM bus_members WHERE group_id = ? AND expires_at < ?'),
    members: db.prepare<[string, number], { member_id: string; topics: string }>(
      'SELECT member_id, topics FROM bus_members WHERE group_id = ? AND expires_at >= ? ORDER BY member_id',
    ),
    deleteMember: db.prepare('DELETE FROM bus_members WHERE group_id = ? AND member_id = ?'),
    renewLeases: db.prepare('UPDATE bus_leases SET expires_at = ? WHERE group_id = ? AND owner = ?'),
    ownedLeases: db.prepare<[string, string], { topic: string; partition: number }>(
      'SELECT topic, partition FROM bus_leases WHERE group_id = ? AND owner = ?',
    ),
    acquireLease: db.prepare(`INSERT INTO bus_leases (group_id, topic, partition, owner, expires_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (group_id, topic, partition) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE bus_leases.owner = excluded.owner OR bus_leases.expires_at < ?`),
    releaseLease: db.prepare('DELETE FROM bus_leases WHERE group_id = ? AND topic = ? AND partition = ? AND owner = ?'),
    markEphemeral: db.prepare('INSERT INTO bus_ephemeral_groups (group_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    /** Ephemeral groups older than a lease with no live member: their processes stopped without a word. */
    abandonedEphemeral: db
      .prepare<[number, number], string>(
        `SELECT group_id FROM bus_ephemeral_groups e WHERE created_at < ?
           AND NOT EXISTS (SELECT 1 FROM bus_members m WHERE m.group_id = e.group_id AND m.expires_at >= ?)`,
      )
      .pluck(),
    liveMembers: db.prepare<[string, number], number>('SELECT count(*) FROM bus_members WHERE group_id = ? AND expires_at >= ?').pluck(),
    dropGroupOffsets: db.prepare('DELETE FROM bus_offsets WHERE group_id = ?'),
    dropGroupLeases: db.prepare('DELETE FROM bus_leases WHERE group_id = ?'),
    dropGroupMembers: db.prepare('DELETE FROM bus_members WHERE group_id = ?'),
    dropEphemeral: db.prepare('DELETE FROM bus_ephemeral_groups WHERE group_id = ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** Everything a group has: offsets, leases, members, and its ephemeral mark (in the caller's transaction). */
export function dropGroup(sql: Statements, groupId: string): void {
  sql.dropGroupOffsets.run(groupId);
  sql.dropGroupLeases.run(groupId);
  sql.dropGroupMembers.run(groupId);
  sql.dropEphemeral.run(groupId);
}
