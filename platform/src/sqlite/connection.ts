/**
 * One way to open the embedded SQLite files (event store, bus, read models), so the three
 * adapters share their pragmas and their checkpointing instead of three copies.
 *
 * better-sqlite3 runs every statement on the calling thread. With SQLite's default
 * auto-checkpoint, the commit that pushes the WAL past 1000 pages also copies the WAL into
 * the database file and fsyncs both, on the event loop: measured, about 1 append in 200 took
 * 10-17 ms instead of 0.05 ms. So the connection handed out never checkpoints
 * (`wal_autocheckpoint = 0`) and a worker thread with its own connection to the same file does
 * it (see checkpointer.ts), and the checkpoint still fsyncs what it copies before the WAL is
 * reused. Commits run at synchronous=NORMAL, which a process crash never loses; a power cut
 * could lose the last ones, so every adapter awaits `sync()` (wal-sync.ts: one fdatasync off the
 * event loop, shared by every commit of the meantime) before it answers, wakes or hands out
 * what it committed.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { defaultWalLimitPages, startCheckpointer, type Checkpointer, type CheckpointerOptions } from './checkpointer';
import { WalSync } from './wal-sync';

export interface SqliteConnectionOptions {
  /** How long a statement waits for another connection's lock before SQLITE_BUSY. */
  busyTimeoutMs: number;
  /**
   * Checkpoint from a worker thread (the default), or `false` to leave it to SQLite's
   * auto-checkpoint on this connection (on the event loop).
   */
  checkpoint?: CheckpointerOptions | false;
  /** Where checkpointer trouble is reported (default: console.error). */
  log?: (msg: string, extra?: object) => void;
}

export interface SqliteConnection {
  readonly db: Database.Database;
  /** Resolves once everything committed to the file before the call (by any connection) would survive a power cut. */
  sync(): Promise<void>;
  /** Closes the connection, then stops the checkpointer and waits for its thread to exit. */
  close(): Promise<void>;
}

/** SQLite's own default, restored on a connection whose checkpointer thread died. */
const AUTO_CHECKPOINT_PAGES = 1000;
/** How long the event loop may wait for other connections during the fallback checkpoint. */
const RESTART_BUSY_TIMEOUT_MS = 10;

/**
 * Processes started together on one DATA_DIR (the services, several replicas) all switch a new
 * file to WAL at once. The switch needs an exclusive lock, and SQLite does not wait for it when
 * another connection is switching too (that wait could deadlock): it fails with SQLITE_BUSY at
 * once, so the switch is tried again here, until the busy timeout.
 */
export function switchToWal(db: Database.Database, busyTimeoutMs: number): void {
  if (db.memory) return; // an in-memory database has no WAL (its mode stays 'memory'), and no other process
  const until = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      if (db.pragma('journal_mode = WAL', { simple: true }) === 'wal') return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    }
    if (Date.now() >= until) throw new Error(`could not switch ${db.name} to WAL within ${busyTimeoutMs} ms: the database is locked`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5 + Math.floor(Math.random() * 10));
  }
}

/**
 * The pragmas every embedded file gets. Sizes are per connection and bounded: the page cache
 * holds the hot b-tree pages of a growing log (the event id index is random-order), and
 * memory-mapped reads skip a copy per page read.
 */
export function applySqlitePragmas(db: Database.Database, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  switchToWal(db, busyTimeoutMs);
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -32768'); // 32 MiB
  db.pragma('mmap_size = 268435456'); // 256 MiB
  db.pragma('temp_store = MEMORY');
  // After the WAL restarts, a file grown past this is cut back to it.
  db.pragma('journal_size_limit = 67108864'); // 64 MiB
}

/**
 * The data directory holds password hashes, orders and emails: owner-only (0700). One made
 * here is created so; an existing one that we own and that is not a shared sticky directory
 * (like /tmp) is tightened.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.statSync(dir);
  const ours = typeof process.getuid !== 'function' || stat.uid === process.getuid();
  if (ours && (stat.mode & 0o1000) === 0 && (stat.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/**
 * The database file is created 0600 before SQLite opens it: SQLite gives its -wal and -shm
 * files the database file's mode. Files from an older install are tightened too.
 */
export function ensurePrivateFiles(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) fs.chmodSync(f, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

export function openSqliteConnection(file: string, options: SqliteConnectionOptions): SqliteConnection {
  ensurePrivateDir(path.dirname(file));
  ensurePrivateFiles(file);
  const db = new Database(file);
  applySqlitePragmas(db, options.busyTimeoutMs);
  const wal = new WalSync(`${file}-wal`);
  const sync = () => wal.sync();
  if (options.checkpoint === false) {
    return {
      db,
      sync,
      close: async () => {
        await wal.close();
        db.close();
      },
    };
  }

  const log = options.log ?? ((msg, extra) => console.error(msg, extra ?? ''));
  db.pragma('wal_autocheckpoint = 0');
  // The WAL restarts once it passes its limit; a file that a stall let grow further (the worker
  // unscheduled on a loaded machine) is then cut back to the limit by the next commit, instead
  // of keeping that size for good.
  const walLimitBytes = (options.checkpoint?.walLimitPages ?? defaultWalLimitPages) * (db.pragma('page_size', { simple: true }) as number);
  db.pragma(`journal_size_limit = ${walLimitBytes}`);
  let checkpointer: Checkpointer | undefined;
  try {
    checkpointer = startCheckpointer(file, options.checkpoint ?? {}, {
      onWalOverLimit: (walPages) => {
        if (!db.open) return;
        // A RESTART waits for every reader of the WAL, in any process; on the event loop that
        // wait must stay short. If it gives up (busy), the worker asks again on a later tick.
        db.pragma(`busy_timeout = ${RESTART_BUSY_TIMEOUT_MS}`);
        try {
          db.pragma('wal_checkpoint(RESTART)');
        } catch (error) {
          log('sqlite checkpoint of a WAL past its limit failed', { file, walPages, error: String(error) });
        } finally {
          db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
        }
      },
      // Without its checkpointer the WAL would grow without bound: checkpoint here again.
      onFailure: (error) => {
        log('sqlite checkpointer stopped; checkpointing on the main connection again', { file, error: String(error) });
        if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
      },
    });
  } catch (error) {
    db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    log('sqlite checkpointer could not start; checkpointing on the main connection', { file, error: String(error) });
  }
  let closing: Promise<void> | undefined;
  return {
    db,
    sync,
    close() {
      closing ??= (async () => {
        await wal.close();
        // This connection closes first so that the checkpointer's is the last one on the file:
        // the final checkpoint and the removal of the WAL then happen on its thread.
        db.close();
        await checkpointer?.stop();
      })();
      return closing;
    },
  };
}
