/**
 * Durable commits without an fsync on the event loop (group commit).
 *
 * SQLite's synchronous=FULL fsyncs the WAL inside every commit, on the calling thread: with
 * better-sqlite3 that is the event loop, measured 0.3-2.3 ms per commit on this machine's
 * shared disk, and a saga makes ~20 commits per order. Instead every connection commits with
 * synchronous=NORMAL (the commit writes its WAL frames, which a process crash never loses)
 * and whoever needs the commit to survive a power cut awaits `sync()`: one `fdatasync` of the
 * WAL file on libuv's thread pool. Commits made while a sync is running wait for the next one,
 * so under load one fsync covers every commit of the meantime. Nobody is answered, woken or
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

export class WalSync {
  private fd: number | undefined;
  /** Resolved by the next fsync to start. */
  private waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private running = false;
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
      if (!this.running) this.start();
    });
  }

  /** Waits for the sync under way, then closes the descriptor; later syncs are refused. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.running || this.waiting.length > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
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
    this.running = true;
    fs.fdatasync(fd, (error) => {
      this.running = false;
      if (error) {
        // After a failed fsync the kernel may have dropped the dirty pages: nothing written
        // since can be trusted to reach the disk, so every later sync fails too (PostgreSQL's
        // lesson). The process should restart; the WAL on disk is consistent up to what did sync.
        this.failure = error;
        for (const w of [...batch, ...this.waiting]) w.reject(error);
        this.waiting = [];
      } else {
        for (const w of batch) w.resolve();
      }
      this.settled();
    });
  }

  private settled(): void {
    if (this.waiting.length > 0 && this.failure === undefined) this.start();
    else if (!this.running && this.idle) {
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
