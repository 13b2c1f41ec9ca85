/**
 * WAL checkpoints off the event loop: a worker thread with its own connection to the file
 * runs `wal_checkpoint(PASSIVE)` every `intervalMs`. A passive checkpoint takes no lock that
 * a writer waits for, so the event loop's commits go on while pages are copied and fsynced.
 *
 * The WAL restarts from its beginning only when a write starts after a checkpoint has caught
 * up with it, which a steady stream of commits may never allow (measured: it grew past 400 MB
 * in 30,000 commits). So once the WAL holds more than `walLimitPages`, the worker pauses and
 * catches up (passes again until one has little left to copy) and asks the owner to
 * checkpoint on its own connection (`onWalOverLimit`, a RESTART there): that costs the event
 * loop the copy of what was committed since (a few pages) and two fsyncs, once per
 * `walLimitPages` of WAL instead of once per 1000 pages, and the next commit starts the WAL
 * over. A RESTART from the worker instead would wait for the
 * write lock, which SQLite's busy handler, polling, rarely wins against a busy event loop.
 *
 * One thread serves every file of the process (see `Thread` below).
 *
 * The worker's body is plain JavaScript run with `eval` (it needs no TypeScript loader, under
 * tsx, vitest or node alike) and loads the same better-sqlite3 build by resolved path.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface CheckpointerOptions {
  /** Pause between passive checkpoints. Default 100 ms. */
  intervalMs?: number;
  /** WAL size, in pages, past which the worker forces a restarting checkpoint. Default 16384 (64 MiB of 4 KiB pages). */
  walLimitPages?: number;
  /** How long the worker's connection waits for a lock. Default 5000 ms. */
  busyTimeoutMs?: number;
}

export interface CheckpointerHooks {
  /** The WAL is past the limit: checkpoint now (the worker waits for this to return). */
  onWalOverLimit: (walPages: number) => void;
  /** The thread died before `stop()`; nothing checkpoints the file any more. */
  onFailure: (error: unknown) => void;
}

export interface Checkpointer {
  /** Stops checkpointing, closes the worker's connection to the file and resolves once it is closed (and the thread has exited, when it was the last file). */
  stop(): Promise<void>;
}

export const defaultWalLimitPages = 16_384;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

const workerBody = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const Database = require(workerData.driver);
const files = new Map();
const busy = (error) => error && (error.code === 'SQLITE_BUSY' || error.code === 'SQLITE_LOCKED');
const schedule = (id, f) => (f.timer = setTimeout(() => tick(id), f.intervalMs));
const tick = (id) => {
  const f = files.get(id);
  if (!f) return;
  try {
    let [passive] = f.db.pragma('wal_checkpoint(PASSIVE)');
    if (passive.log > f.walLimitPages) {
      // Catch up first: what the owner's checkpoint copies, on its event loop, is what was
      // committed since the last pass, so pass again until a pass has little left to copy.
      for (let pass = 0; pass < 8; pass++) {
        const before = passive.checkpointed;
        [passive] = f.db.pragma('wal_checkpoint(PASSIVE)');
        if (passive.checkpointed - before <= f.catchUpPages) break;
      }
      // A passive checkpoint that did not copy the whole WAL (commits go on) leaves what it
      // copied unsynced in the database file: flush it here, or the owner's RESTART, on its
      // event loop, would (measured: 5.9-6.4 s at a time while a 1M-event log was re-published; 3 ms after).
      fs.fdatasyncSync(f.fd);
      // This file's next tick is scheduled when the owner answers 'resume'.
      parentPort.postMessage({ type: 'over', id, walPages: passive.log });
      return;
    }
  } catch (error) {
    // Another connection's checkpoint or a lock held past the timeout: the next tick retries.
    if (!busy(error)) return fail(id, f, error);
  }
  schedule(id, f);
};
const fail = (id, f, error) => {
  files.delete(id);
  clearTimeout(f?.timer);
  try { f?.db.close(); } catch {}
  try { if (f) fs.closeSync(f.fd); } catch {}
  parentPort.postMessage({ type: 'failed', id, error: String(error && error.stack || error) });
};
parentPort.on('message', (m) => {
  const f = files.get(m.id);
  if (m.type === 'add') {
    try {
      const db = new Database(m.file, { fileMustExist: true });
      let fd;
      try {
        fd = fs.openSync(m.file, 'r');
      } catch (error) {
        db.close();
        throw error;
      }
      db.pragma('busy_timeout = ' + m.busyTimeoutMs);
      db.pragma('wal_autocheckpoint = 0');
      const added = { db, fd, intervalMs: m.intervalMs, walLimitPages: m.walLimitPages, catchUpPages: m.catchUpPages };
      files.set(m.id, added);
      schedule(m.id, added);
    } catch (error) {
      fail(m.id, undefined, error);
    }
  } else if (m.type === 'resume') {
    if (f) schedule(m.id, f);
  } else if (m.type === 'remove') {
    if (f) {
      files.delete(m.id);
      clearTimeout(f.timer);
      f.db.close();
      fs.closeSync(f.fd);
    }
    parentPort.postMessage({ type: 'removed', id: m.id });
  } else if (m.type === 'exit') {
    parentPort.close();
  }
});
`;

interface Registered {
  hooks: CheckpointerHooks;
  stopping: boolean;
  removed: () => void;
}

/**
 * One thread checkpoints every file this process opened (a process opens three or four):
 * a thread costs a Node environment to boot and about 10 MB, and the start of a process
 * should not pay for one per file. It is started by the first file and ended with the last.
 */
interface Thread {
  worker: Worker;
  files: Map<number, Registered>;
  exited: Promise<void>;
  /** Files being stopped: the thread keeps the process alive until they are closed. */
  pending: number;
}

let thread: Thread | undefined;
let nextId = 0;

function startThread(): Thread {
  const worker = new Worker(workerBody, { eval: true, workerData: { driver } });
  const files = new Map<number, Registered>();
  let failure: unknown;
  let ending = false;
  const started: Thread = { worker, files, exited: Promise.resolve(), pending: 0 };
  worker.on('error', (error) => (failure = error));
  worker.on('message', (message: { type: 'over'; id: number; walPages: number } | { type: 'failed'; id: number; error: string } | { type: 'removed'; id: number }) => {
    const file = files.get(message.id);
    if (!file) return;
    if (message.type === 'over') {
      if (file.stopping) return;
      try {
        file.hooks.onWalOverLimit(message.walPages);
      } finally {
        worker.postMessage({ type: 'resume', id: message.id });
      }
    } else if (message.type === 'failed') {
      files.delete(message.id);
      if (file.stopping) file.removed();
      else file.hooks.onFailure(new Error(message.error));
      endIfIdle();
    } else {
      files.delete(message.id);
      file.removed();
      endIfIdle();
    }
  });
  started.exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      if (thread === started) thread = undefined;
      ending = true;
      const error = failure ?? new Error(`checkpointer thread exited with code ${code}`);
      for (const file of files.values()) {
        if (file.stopping) file.removed();
        else file.hooks.onFailure(error);
      }
      files.clear();
      resolve();
    }),
  );
  // After the listeners: adding a 'message' listener refs the worker again.
  worker.unref();
  const endIfIdle = () => {
    if (files.size > 0 || ending) return;
    ending = true;
    // The next file to open starts a new thread.
    if (thread === started) thread = undefined;
    worker.postMessage({ type: 'exit' });
  };
  return started;
}

/**
 * Checkpoints `file` (which must exist, in WAL mode) on the process's checkpointing thread,
 * starting the thread if none runs. It never keeps the process alive on its own; `onFailure`
 * is called if checkpointing the file (or the thread) fails before `stop()`.
 */
export function startCheckpointer(file: string, options: CheckpointerOptions, hooks: CheckpointerHooks): Checkpointer {
  const t = (thread ??= startThread());
  const id = nextId++;
  let removed!: () => void;
  const done = new Promise<void>((resolve) => (removed = resolve));
  const registered: Registered = { hooks, stopping: false, removed };
  t.files.set(id, registered);
  t.worker.postMessage({
    type: 'add',
    id,
    file,
    intervalMs: options.intervalMs ?? 100,
    walLimitPages: options.walLimitPages ?? defaultWalLimitPages,
    busyTimeoutMs: options.busyTimeoutMs ?? 5_000,
    catchUpPages: 64,
  });
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        if (!t.files.has(id)) return;
        registered.stopping = true;
        // Held by the caller's await until the thread has closed this file's connection.
        if (t.pending++ === 0) t.worker.ref();
        t.worker.postMessage({ type: 'remove', id });
        await done;
        // The last file's stop also waits for the thread to end, so nothing is left running.
        if (t.files.size === 0) await t.exited;
        if (--t.pending === 0) t.worker.unref();
      })();
      return stopped;
    },
  };
}
