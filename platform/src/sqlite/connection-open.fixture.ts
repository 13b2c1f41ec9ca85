/**
 * A process that opens `count` new files the way the adapters do, each at a given wall-clock
 * time: connection.int.spec.ts starts several of these at once on the same files, as the services
 * of one DATA_DIR do at boot. It prints one line per file: the journal mode it got, or the error.
 */
import path from 'node:path';
import { openSqliteConnection } from './connection';

const [dir, count, startAt] = process.argv.slice(2);
for (let i = 0; i < Number(count); i++) {
  while (Date.now() < Number(startAt) + i * 40); // spin: every process opens file i at about the same instant
  try {
    const connection = openSqliteConnection(path.join(dir!, `${i}.sqlite`), { busyTimeoutMs: 5_000, checkpoint: false });
    connection.db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const mode = connection.db.pragma('journal_mode', { simple: true });
    await connection.close();
    process.stdout.write(JSON.stringify({ ok: true, mode }) + '\n');
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(error) }) + '\n');
  }
}
