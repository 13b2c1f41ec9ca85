/**
 * Durable commits without an fsync on the event loop (group commit).
 *
 * SQLite's synchronous=FULL fsyncs the WAL inside every commit, on the calling thread: with
 * better-sqlite3 that is the event loop, measured 0.3-2.3 ms per commit on this machine's
 * shared disk, and a saga makes ~20 commits per order. Instead every connection commits with
 * synchronous=NORMAL (the commit writes its WAL frames, which a process crash never loses)
 * and whoever needs the commit to survive a power cut awaits `sync()`: one `fdatasync` of the
 * WAL file on libuv's thread pool, started at once (after the current task's microtasks) if fewer
 * than two are running, else when one ends. Each fsync answers every sync asked for before it
 * started: under load one fsync answers many commits, and a commit waits for about one fsync,
 * not for the rest of a running one first. Nobody is answered, woken or
 * handed an event before the sync that covers it has finished, so what anyone acted on is on
 * disk: the same guarantee as FULL. (The WAL's frames are checksummed, so a torn tail after a
 * power cut is cut back to the last whole commit; SQLite syncs the WAL header itself when the
 * WAL restarts, and checkpoints sync what they copy, at synchronous=NORMAL as at FULL.)
 *
 * fsync flushes the file, whichever descriptor wrote it, so syncing through our own descriptor
 * covers SQLite's writes and other processes' too. The WAL file stays the same inode while a
 * connection is open (SQLite deletes it only when the last connection closes).
 */
import fs from 'node:fs';

/** fsyncs of one file under way at once. */
const MAX_IN_FLIGHT = 2;

type Waiter = { resolve: () => void; reject: (error: unknown) => void };

export class WalSync {
  private fd: number | undefined;
  /** Resolved by the next fsync to start. */
  private waiting: Waiter[] = [];
  /** The waiters of each fsync under way. */
  private readonly running = new Set<Waiter[]>();
  private scheduled = false;
  private failure: unknown;
  private closed = false;
  private idle: (() => void) | undefined;

  constructor(private readonly walFile: string) {}

  /** Resolves once everything committed to the file before this call, by any connection, is on disk. */
  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`${this.walFile}: closed`));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Waits for the syncs under way and asked for, then closes the descriptor; later syncs are refused. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.running.size > 0 || this.waiting.length > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /**
   * Starts the next fsync after the current task's microtasks, so that the commits of one
   * batch of work (a bus batch's handlers, a group of appends) share it.
   */
  private schedule(): void {
    if (this.scheduled || this.running.size >= MAX_IN_FLIGHT) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.waiting.length > 0 && this.failure === undefined && this.running.size < MAX_IN_FLIGHT) this.start();
    });
  }

  private start(): void {
    const batch = this.waiting;
    this.waiting = [];
    let fd: number | undefined;
    try {
      fd = this.open();
    } catch (error) {
      for (const w of batch) w.reject(error);
      this.settled();
      return;
    }
    if (fd === undefined) {
      // No WAL yet: nothing was ever committed in WAL mode, so there is nothing to sync.
      for (const w of batch) w.resolve();
      this.settled();
      return;
    }
    this.running.add(batch);
    fs.fdatasync(fd, (error) => {
      this.running.delete(batch);
      if (error) this.fail(error, batch);
      else if (this.failure === undefined) for (const w of batch) w.resolve();
      this.settled();
    });
  }

  /**
   * After a failed fsync the kernel may have dropped the dirty pages, and a later fsync can
   * report success without having written them: nothing under way or asked for since can be
   * trusted to reach the disk, so all of it fails, and every later sync (PostgreSQL's lesson).
   * The process should restart; the WAL on disk is consistent up to what did sync.
   */
  private fail(error: unknown, batch: Waiter[]): void {
    this.failure = error;
    for (const w of batch) w.reject(error);
    for (const other of this.running) for (const w of other) w.reject(error);
    for (const w of this.waiting) w.reject(error);
    this.waiting = [];
  }

  private settled(): void {
    if (this.waiting.length > 0 && this.failure === undefined) this.schedule();
    else if (this.running.size === 0 && this.waiting.length === 0 && this.idle) {
      this.idle();
      this.idle = undefined;
    }
  }

  private open(): number | undefined {
    if (this.fd !== undefined) return this.fd;
    try {
      this.fd = fs.openSync(this.walFile, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return this.fd;
  }
}
