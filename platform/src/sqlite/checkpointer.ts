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
  /** Stops checkpointing, closes the worker's connection and resolves once its thread has exited. */
  stop(): Promise<void>;
}

export const defaultWalLimitPages = 16_384;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

const workerBody = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
db.pragma('wal_autocheckpoint = 0');
let timer;
const tick = () => {
  try {
    let [passive] = db.pragma('wal_checkpoint(PASSIVE)');
    if (passive.log > workerData.walLimitPages) {
      // Catch up first: what the owner's checkpoint copies, on its event loop, is what was
      // committed since the last pass, so pass again until a pass has little left to copy.
      for (let pass = 0; pass < 8; pass++) {
        const before = passive.checkpointed;
        [passive] = db.pragma('wal_checkpoint(PASSIVE)');
        if (passive.checkpointed - before <= workerData.catchUpPages) break;
      }
      // The next tick is scheduled when the owner answers 'resume'.
      parentPort.postMessage({ walPages: passive.log });
      return;
    }
  } catch (error) {
    // Another connection's checkpoint or a lock held past the timeout: the next tick retries.
    if (!(error && (error.code === 'SQLITE_BUSY' || error.code === 'SQLITE_LOCKED'))) throw error;
  }
  timer = setTimeout(tick, workerData.intervalMs);
};
timer = setTimeout(tick, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message === 'resume') {
    timer = setTimeout(tick, workerData.intervalMs);
  } else if (message === 'stop') {
    clearTimeout(timer);
    db.close();
    parentPort.close();
  }
});
`;

/**
 * Starts the checkpointing thread for `file` (which must exist, in WAL mode). It never keeps
 * the process alive on its own; `onFailure` is called if the thread dies before `stop()`.
 */
export function startCheckpointer(file: string, options: CheckpointerOptions, hooks: CheckpointerHooks): Checkpointer {
  const worker = new Worker(workerBody, {
    eval: true,
    workerData: {
      driver,
      file,
      intervalMs: options.intervalMs ?? 100,
      walLimitPages: options.walLimitPages ?? defaultWalLimitPages,
      busyTimeoutMs: options.busyTimeoutMs ?? 5_000,
      catchUpPages: 64,
    },
  });
  let stopping = false;
  let failure: unknown;
  worker.on('error', (error) => (failure = error));
  worker.on('message', (message: { walPages: number }) => {
    if (stopping) return;
    try {
      hooks.onWalOverLimit(message.walPages);
    } finally {
      worker.postMessage('resume');
    }
  });
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      if (!stopping) hooks.onFailure(failure ?? new Error(`checkpointer thread exited with code ${code}`));
      resolve();
    }),
  );
  // After the listeners: adding a 'message' listener refs the worker again.
  worker.unref();
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (() => {
        stopping = true;
        // Held by the caller's await until the thread has closed its connection.
        worker.ref();
        worker.postMessage('stop');
        return exited;
      })();
      return stopped;
    },
  };
}
