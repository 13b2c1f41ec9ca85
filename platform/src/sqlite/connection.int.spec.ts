import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateJwtSecret } from '../auth/jwt';
import { openAdapters } from '../adapters';
import { loadConfig } from '../config';
import { openSqliteConnection, type SqliteConnection } from './connection';

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const open: SqliteConnection[] = [];
const tempFile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-connection-'));
  dirs.push(dir);
  return path.join(dir, 'test.sqlite');
};
const connect = (file: string, checkpoint?: { intervalMs: number; walLimitPages?: number } | false) => {
  const c = openSqliteConnection(file, { busyTimeoutMs: 5_000, ...(checkpoint === undefined ? {} : { checkpoint }) });
  open.push(c);
  c.db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  return c;
};
const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** `commits` single-row transactions of ~2 KB each, yielding to the event loop now and then. */
async function write(c: SqliteConnection, commits: number) {
  const insert = c.db.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < commits; i++) {
    insert.run('x'.repeat(2_000));
    if (i % 20 === 0) await sleep(1);
  }
}
async function eventually(check: () => boolean, ms = 5_000) {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await sleep(20);
  return check();
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('openSqliteConnection', () => {
  it('is in WAL mode with synchronous=NORMAL and leaves checkpoints to its worker', () => {
    const c = connect(tempFile());
    expect({
      journal: c.db.pragma('journal_mode', { simple: true }),
      synchronous: c.db.pragma('synchronous', { simple: true }),
      autoCheckpoint: c.db.pragma('wal_autocheckpoint', { simple: true }),
    }).toEqual({ journal: 'wal', synchronous: 1, autoCheckpoint: 0 });
  });

  it('opens new files from several processes at once, as the services of one DATA_DIR do at boot', async () => {
    // The switch to WAL needs an exclusive lock that SQLite does not wait for while another
    // process switches too: without a retry, some openers fail with SQLITE_BUSY.
    const dir = path.dirname(tempFile());
    const files = 60;
    const startAt = Date.now() + 2_500;
    const answers = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'connection-open.fixture.ts'), dir, String(files), String(startAt)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<{ ok: boolean; mode?: string; error?: string }[]>((resolve) =>
        child.on('exit', () => resolve(out.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { ok: boolean }))),
      );
    });
    const results = (await Promise.all(answers)).flat();
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.length).toBe(4 * files);
    expect(new Set(results.map((r) => r.mode))).toEqual(new Set(['wal']));
  }, 60_000);

  it('copies committed pages into the database file from the worker thread', async () => {
    const file = tempFile();
    const c = connect(file, { intervalMs: 10 });
    const before = size(file);
    await write(c, 200);
    // The main connection never checkpoints, so only the worker can have grown the file.
    expect(await eventually(() => size(file) > before + 200 * 2_000)).toBe(true);
  });

  it('keeps the WAL bounded under a steady stream of commits', async () => {
    // The same commits to a file that nothing checkpoints: the size of a WAL that never restarts.
    const unboundedFile = tempFile();
    const unbounded = connect(unboundedFile, false);
    unbounded.db.pragma('wal_autocheckpoint = 0');
    // Enough commits that the bound shows even when a loaded machine leaves the worker thread
    // unscheduled for a few hundred milliseconds (the WAL grows meanwhile, then restarts).
    await write(unbounded, 8_000);
    const file = tempFile();
    const c = connect(file, { intervalMs: 5, walLimitPages: 100 });
    // The worker thread takes a while to boot on a loaded machine: start the steady stream
    // once it has checkpointed a first time.
    const before = size(file);
    await write(c, 10);
    expect(await eventually(() => size(file) > before)).toBe(true);
    await write(c, 8_000);
    expect(c.db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(8_010);
    // How far the WAL grew meanwhile depends on how often the machine ran the worker; bounded
    // means it comes back: once the worker has caught up, the WAL restarts and the next commit
    // cuts the file back to the limit (100 pages), while commits go on.
    const limitBytes = 100 * 4_096;
    const bounded = await eventually(() => {
      for (let i = 0; i < 5; i++) c.db.prepare('INSERT INTO t (v) VALUES (?)').run('x'.repeat(2_000));
      return size(`${file}-wal`) < 4 * limitBytes;
    }, 10_000);
    expect(bounded, `WAL still ${size(`${file}-wal`)} bytes after 10 s`).toBe(true);
    expect(size(`${unboundedFile}-wal`)).toBeGreaterThan(40 * limitBytes);
  });

  it('does not hold the event loop while another connection keeps a read open on the WAL', async () => {
    const file = tempFile();
    const c = connect(file, { intervalMs: 5, walLimitPages: 50 });
    await write(c, 10);
    // A reader that never finishes: the WAL cannot restart, and a RESTART waiting for it with
    // the connection's 5 s busy timeout would stall the loop that long each time it is asked.
    const reader = connect(file, false);
    reader.db.exec('BEGIN');
    reader.db.prepare('SELECT count(*) FROM t').pluck().get();
    const started = performance.now();
    let slowest = 0;
    const insert = c.db.prepare('INSERT INTO t (v) VALUES (?)');
    for (let i = 0; i < 600; i++) {
      const t = performance.now();
      insert.run('x'.repeat(2_000));
      await sleep(1);
      slowest = Math.max(slowest, performance.now() - t);
    }
    reader.db.exec('COMMIT');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(slowest).toBeLessThan(1_000);
  });

  it('checkpoints every file of the process on one thread, which goes on when one of them closes', async () => {
    const threads = () => fs.readdirSync('/proc/self/task').length;
    // libuv starts its thread pool (4 threads) at the first asynchronous fs call, which anything
    // in this process may make meanwhile: start it before the count, so that it is not counted.
    await fs.promises.stat(os.tmpdir());
    const baseline = threads();
    const files = [tempFile(), tempFile(), tempFile()];
    const connections = files.map((file) => connect(file, { intervalMs: 10 }));
    const before = files.map(size);
    await Promise.all(connections.map((c) => write(c, 100)));
    expect(await eventually(() => files.every((file, i) => size(file) > before[i]! + 100 * 2_000))).toBe(true);
    // One thread for the three (each thread of its own made this +3).
    expect(threads() - baseline).toBe(1);

    await connections[0]!.close();
    expect(fs.existsSync(`${files[0]}-wal`)).toBe(false);
    const grown = files.map(size);
    await Promise.all(connections.slice(1).map((c) => write(c, 100)));
    expect(await eventually(() => files.slice(1).every((file, i) => size(file) > grown[i + 1]! + 100 * 2_000))).toBe(true);

    await Promise.all(connections.slice(1).map((c) => c.close()));
    // The last file's close ends the thread (its OS thread is joined just after the worker's
    // 'exit', which close() waits for: CI once counted it there still).
    expect(await eventually(() => threads() === baseline, 2_000)).toBe(true);
  });

  it('checkpoints on the main connection when asked not to use a worker', async () => {
    const c = connect(tempFile(), false);
    expect(c.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('close() stops the worker: the last connection checkpoints and removes the WAL', async () => {
    const file = tempFile();
    const c = connect(file, { intervalMs: 10 });
    await write(c, 100);
    await c.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    const reopened = connect(file, false);
    expect(reopened.db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(100);
  });

  it.each(['close', 'leak'])('a process that opened one exits on its own (%s)', async (mode) => {
    const file = tempFile();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'connection.fixture.ts'), mode, file, '300'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: JSON.stringify({ kind: 'done', mode }) });
    const reopened = connect(file, false);
    expect(reopened.db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(300);
  });
});

describe('what an embedded install writes is owner-only', () => {
  const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

  it('creates the data dir 0700 and every SQLite file (with -wal and -shm) and the JWT secret 0600', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-perms-'));
    dirs.push(parent);
    const dataDir = path.join(parent, 'data');
    const previous = process.umask(0o022); // the usual umask, under which mkdir gives 0755 and files 0644
    try {
      const adapters = await openAdapters(loadConfig({ DATA_DIR: dataDir }), 'perms-test');
      loadOrCreateJwtSecret(dataDir, {});
      const files = fs.readdirSync(dataDir).sort();
      expect(files).toEqual(expect.arrayContaining(['events.sqlite', 'events.sqlite-wal', 'events.sqlite-shm', 'bus.sqlite', 'readmodels.sqlite', 'jwt-secret']));
      expect(modeOf(dataDir).toString(8)).toBe('700');
      expect(Object.fromEntries(files.map((f) => [f, modeOf(path.join(dataDir, f)).toString(8)]))).toEqual(Object.fromEntries(files.map((f) => [f, '600'])));
      await adapters.close();
    } finally {
      process.umask(previous);
    }
  });

  it('tightens the dir and files of an older install that were left 0755/0644', async () => {
    const file = tempFile();
    fs.chmodSync(path.dirname(file), 0o755);
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    const c = connect(file);
    c.db.exec("INSERT INTO t (v) VALUES ('x')");
    expect(modeOf(path.dirname(file)).toString(8)).toBe('700');
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect([f, modeOf(f).toString(8)]).toEqual([f, '600']);
  });
});
