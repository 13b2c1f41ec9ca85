import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, ensurePrivateFiles, switchToWal } from '@saga/platform/sqlite/connection';

/**
 * The charges and refunds asked of the provider whose answer is not recorded yet (one at a time per order), so a restart finds them
 * without reading every payment stream. A row is written before the attempt is appended and
 * removed once the answer is, so it can only over-report: a row whose stream is not charging
 * (the attempt never got appended, or was answered) is simply dropped by the reconciler.
 */
export interface OpenAttempts {
  open(orderId: string, idempotencyKey: string): void;
  close(orderId: string): void;
  list(): { orderId: string; idempotencyKey: string }[];
}

/** In `dataDir/payment-attempts.sqlite`, fsynced on every change; in memory without a dataDir (tests). */
export function openAttemptIndex(dataDir?: string): OpenAttempts & { closeIndex(): void } {
  // Owner-only, like every file of the data directory (the provider's books and the open attempts name orders).
  const file = dataDir ? join(dataDir, 'payment-attempts.sqlite') : ':memory:';
  if (dataDir) {
    ensurePrivateDir(dataDir);
    ensurePrivateFiles(file);
  }
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  // Two payment processes opening a new file meet at the switch to WAL.
  switchToWal(db, 5_000);
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS open_attempts (order_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL)');
  const insert = db.prepare<[string, string]>('INSERT OR REPLACE INTO open_attempts (order_id, idempotency_key) VALUES (?, ?)');
  const remove = db.prepare<[string]>('DELETE FROM open_attempts WHERE order_id = ?');
  const all = db.prepare<[], { order_id: string; idempotency_key: string }>('SELECT order_id, idempotency_key FROM open_attempts ORDER BY order_id');
  return {
    open: (orderId, idempotencyKey) => void insert.run(orderId, idempotencyKey),
    close: (orderId) => void remove.run(orderId),
    list: () => all.all().map((r) => ({ orderId: r.order_id, idempotencyKey: r.idempotency_key })),
    closeIndex: () => db.close(),
  };
}
