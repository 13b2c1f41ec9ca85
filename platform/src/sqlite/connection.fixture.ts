/**
 * A process that opens a connection the way the adapters do, commits `count` transactions,
 * then closes it (`close`) or just returns from its module (`leak`), driven by
 * connection.int.spec.ts: either way the process must exit on its own.
 */
import { openSqliteConnection } from './connection';

const [mode, file, count] = process.argv.slice(2);
const connection = openSqliteConnection(file!, { busyTimeoutMs: 5_000, checkpoint: { intervalMs: 5 } });
connection.db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
const insert = connection.db.prepare('INSERT INTO t (v) VALUES (?)');
for (let i = 0; i < Number(count); i++) {
  insert.run('x'.repeat(500));
  if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
}
if (mode === 'close') await connection.close();
process.stdout.write(JSON.stringify({ kind: 'done', mode }) + '\n');
