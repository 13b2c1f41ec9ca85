/**
 * The process `npm start` runs: node on the prebuilt dist/ with no shell or TypeScript loader
 * in between, so SIGTERM (to npm or to the app) and Ctrl-C (SIGINT to the whole process group)
 * stop it cleanly: exit 0 within its bound, the SQLite files closed (no WAL left), and a
 * restart finishes what was in flight. And it answers /healthz within a second of its spawn.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, freePort, removeDataDir, startCommand, startSystem } from './harness';

const root = resolve(import.meta.dirname, '..');
/** main.ts's own bound: a stop that outlasts it exits 1, so exit 0 also proves it was kept. */
const SHUTDOWN_BOUND_MS = 10_000;
const linux = process.platform === 'linux';
if (!linux) console.warn(`skipping the two tests that read a pid's parent and command line from /proc: not on Linux (${process.platform})`);

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

interface Started {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<Exit>;
  /** Resolves with the app's pid, from its 'started' log line (pino logs the pid). */
  appPid: Promise<number>;
}

function env(dataDir: string, port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    EVENTSTORE_URL: '',
    KAFKA_BROKERS: '',
    MONGODB_URL: '',
    SMTP_URL: '',
    SAGA_STEP_TIMEOUT_MS: '1500',
  };
}

/** `npm start` in a process group of its own (a terminal's Ctrl-C signals the whole group). */
async function npmStart(dataDir: string): Promise<Started> {
  const port = await freePort();
  const child = spawn('npm', ['start'], { cwd: root, env: env(dataDir, port), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  return watch(child, port);
}

function watch(child: ChildProcess, port: number): Started {
  let log = '';
  let foundPid: (pid: number) => void = () => undefined;
  const appPid = new Promise<number>((r) => (foundPid = r));
  const scan = (chunk: Buffer) => {
    log += chunk;
    const line = log.split('\n').find((l) => l.includes('"msg":"started"'));
    if (line) foundPid((JSON.parse(line) as { pid: number }).pid);
  };
  child.stdout!.on('data', scan);
  child.stderr!.on('data', (d: Buffer) => (log += d));
  const exited = new Promise<Exit>((r) => child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })));
  return { child, port, output: () => log, exited, appPid };
}

async function healthy(port: number, child: ChildProcess, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before /healthz answered:\n${output()}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no /healthz in ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const walFiles = (dir: string) => readdirSync(dir).filter((f) => /-(wal|shm|journal)$/.test(f));
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
const commandOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Signals, then waits for npm's exit; returns it with how long the stop took. */
async function stopWith(started: Started, send: () => void): Promise<Exit & { tookMs: number }> {
  const sentAt = Date.now();
  send();
  const exit = await started.exited;
  return { ...exit, tookMs: exit.at - sentAt };
}

const dirs: string[] = [];
const children: ChildProcess[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'saga-process-'));
  dirs.push(dir);
  return dir;
};

beforeAll(() => {
  // So no test below times a build: what `npm ci` (prepare) leaves behind.
  const built = spawnSync(process.execPath, [join(root, 'app/build.mjs')], { cwd: root, stdio: 'inherit' });
  expect(built.status).toBe(0);
}, 180_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) removeDataDir(dir);
});

describe('npm start, signals and a clean stop', () => {
  it.skipIf(!linux)('npm execs node on the prebuilt dist directly; SIGTERM to npm reaches it: exit 0, no WAL left', async () => {
    const dataDir = tempDir();
    const started = await npmStart(dataDir);
    children.push(started.child);
    await healthy(started.port, started.child, started.output);
    const pid = await started.appPid;
    // The app is npm's own child (no `sh -c` or tsx between them) running node on app/run.mjs.
    expect(parentOf(pid)).toBe(started.child.pid);
    expect(commandOf(pid).slice(1)).toEqual(startCommand.map((a) => (a.startsWith(root) ? a.slice(root.length + 1) : a)));
    expect(commandOf(pid).join(' ')).not.toMatch(/tsx/);

    const exit = await stopWith(started, () => started.child.kill('SIGTERM'));
    expect(exit, started.output()).toMatchObject({ code: 0, signal: null });
    expect(exit.tookMs).toBeLessThan(SHUTDOWN_BOUND_MS);
    expect(started.output()).toContain('"msg":"stopped"');
    expect(alive(pid)).toBe(false);
    expect(walFiles(dataDir)).toEqual([]);
  });

  it.skipIf(!linux)('SIGTERM to the process npm spawned stops it cleanly and npm exits 0', async () => {
    const dataDir = tempDir();
    const started = await npmStart(dataDir);
    children.push(started.child);
    await healthy(started.port, started.child, started.output);
    const pid = await started.appPid;
    const exit = await stopWith(started, () => process.kill(pid, 'SIGTERM'));
    expect(exit, started.output()).toMatchObject({ code: 0, signal: null });
    expect(exit.tookMs).toBeLessThan(SHUTDOWN_BOUND_MS);
    expect(started.output()).toContain('"msg":"stopped"');
    expect(walFiles(dataDir)).toEqual([]);
  });

  it('Ctrl-C (SIGINT to the process group: npm forwards a second copy) runs the whole stop once', async () => {
    const dataDir = tempDir();
    const started = await npmStart(dataDir);
    children.push(started.child);
    await healthy(started.port, started.child, started.output);
    const exit = await stopWith(started, () => process.kill(-started.child.pid!, 'SIGINT'));
    expect(exit, started.output()).toMatchObject({ code: 0, signal: null });
    expect(exit.tookMs).toBeLessThan(SHUTDOWN_BOUND_MS);
    const log = started.output();
    expect(log.match(/"msg":"shutting down"/g)).toHaveLength(1);
    expect(log).toContain('"msg":"stopped"');
    expect(log).not.toContain('shutdown took too long');
    expect(walFiles(dataDir)).toEqual([]);
  });

  it('SIGTERM with orders in flight and a live SSE stream open: exit 0 in bound, and a restart ends every accepted order', async () => {
    const dataDir = tempDir();
    const started = await npmStart(dataDir);
    children.push(started.child);
    await healthy(started.port, started.child, started.output);
    const base = `http://127.0.0.1:${started.port}`;
    const alice = await new Client(base).login('alice@example.com', 'alice-password');
    const admin = await new Client(base).login('admin@example.com', 'admin-password');
    // Stock for every order the load can place, so each one must end confirmed.
    const sku = `SIGTERM-${Date.now().toString(36).toUpperCase()}`;
    const added = await admin.request('POST', '/api/admin/products', { sku, name: 'Signal mug', price: 900, currency: 'EUR', stock: 1_000_000 });
    expect(added.status, JSON.stringify(added.body)).toBeLessThan(300);

    // An SSE client that never hangs up: the gateway must cut it rather than wait for it.
    const sse = new AbortController();
    const live = await fetch(`${base}/api/live`, { headers: { authorization: `Bearer ${alice.token}` }, signal: sse.signal });
    expect(live.status).toBe(200);
    void live.body?.pipeTo(new WritableStream()).catch(() => undefined);

    const accepted: string[] = [];
    let placing = true;
    const place = async () => {
      while (placing) {
        const res = await alice
          .request<{ orderId: string }>('POST', '/api/orders', { items: [{ sku, quantity: 1 }], payment: { card: '4242424242424242' } }, { 'idempotency-key': randomUUID() })
          // Refused connections once the gateway has closed.
          .catch(() => undefined);
        if (res?.status === 202) accepted.push(res.body.orderId);
        else if (res !== undefined) expect.fail(`place order: ${res.status} ${JSON.stringify(res.body)}`);
      }
    };
    const placers = [place(), place(), place(), place()];
    await new Promise((r) => setTimeout(r, 1_500));

    const exit = await stopWith(started, () => started.child.kill('SIGTERM'));
    placing = false;
    await Promise.all(placers);
    sse.abort();
    expect(exit, started.output()).toMatchObject({ code: 0, signal: null });
    expect(exit.tookMs).toBeLessThan(SHUTDOWN_BOUND_MS);
    expect(started.output()).not.toContain('stop failed');
    expect(walFiles(dataDir)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(0);

    // Whatever the stop cut short carries on after a restart: every accepted order ends confirmed.
    const again = await startSystem({ dataDir, env: { SAGA_STEP_TIMEOUT_MS: '1500' } });
    try {
      const admin2 = await new Client(again.baseUrl).login('admin@example.com', 'admin-password');
      for (const orderId of accepted) {
        const order = await admin2.waitFor<{ status: string }>(`/api/orders/${orderId}`, (o) => ['confirmed', 'rejected', 'cancelled'].includes(o.status), 30_000);
        expect(order.status, orderId).toBe('confirmed');
      }
    } finally {
      expect(await again.stop()).toBe(0);
    }
  });
});

describe('start time', () => {
  it('with a populated data dir, /healthz answers within 1 s of the process spawn (best of 3)', async () => {
    const dataDir = tempDir();
    // Populate: seed and place an order, then a clean stop.
    const first = await startSystem({ dataDir });
    const alice = await new Client(first.baseUrl).login('alice@example.com', 'alice-password');
    const placed = await alice.request('POST', '/api/orders', { items: [{ sku: 'MUG-001', quantity: 1 }], payment: { card: '4242424242424242' } }, { 'idempotency-key': randomUUID() });
    expect(placed.status).toBe(202);
    expect(await first.stop()).toBe(0);

    const timeStart = async (command: string, args: string[]) => {
      const port = await freePort();
      const spawnedAt = performance.now();
      const child = spawn(command, args, { cwd: root, env: { ...env(dataDir, port), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      const started = watch(child, port);
      await healthy(port, child, started.output);
      const ms = performance.now() - spawnedAt;
      child.kill('SIGTERM');
      expect((await started.exited).code).toBe(0);
      return Math.round(ms);
    };
    const node: number[] = [];
    for (let i = 0; i < 3; i++) node.push(await timeStart(process.execPath, startCommand));
    const npm = await timeStart('npm', ['start']);
    console.log(`spawn -> first /healthz 200: node app/run.mjs main ${node.join(', ')} ms; npm start ${npm} ms`);
    expect(Math.min(...node)).toBeLessThanOrEqual(1_000);
  });
});
