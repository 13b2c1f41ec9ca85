import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { projectAll } from './projection';
import { replicaEvents } from './replicas.fixture';
import { statsProjection } from './stats';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'replica.process.ts');

interface Replica {
  ready: Promise<void>;
  go(): void;
  done: Promise<void>;
}

/** A replica process that loads, says ready, and applies its events only once told to go. */
function startReplica(args: string[]): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready')) markReady();
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 && out.includes('done') ? resolve() : reject(new Error(`replica exited ${code}: ${out}`))));
  });
  // A replica that dies before ready fails the test through `done`, not a wait on `ready`.
  done.catch(() => markReady());
  return { ready, go: () => child.stdin.end('go\n'), done };
}

async function runTogether(argsOfEach: string[][]): Promise<void> {
  const replicas = argsOfEach.map(startReplica);
  await Promise.all(replicas.map((r) => r.ready));
  for (const r of replicas) r.go();
  await Promise.all(replicas.map((r) => r.done));
}

describe('two projector replicas in two processes on one read model (K8)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replicas-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('on SQLite: every order document and the totals equal a rebuild from the same events', async () => {
    const orders = 1500;
    // One replica gets the order streams, the other the payment streams: both write every order's figures and the totals.
    await runTogether([[dir, 'order', String(orders)], [dir, 'payment', String(orders)]]);
    const { order, payment } = replicaEvents(orders);
    const expected = projectAll(statsProjection, [...order, ...payment].sort((a, b) => a.position - b.position));
    const store = await openSqliteDocumentStore({ dataDir: dir });
    const stats = await store.collection(statsProjection.collection);
    const live = await stats.getMany([...expected.keys()]);
    expect(live.length).toBe(expected.size);
    const canonical = (d: unknown) => JSON.stringify(d, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));
    const differing = live.filter((d) => canonical(d) !== canonical(expected.get(d.id)));
    expect(differing.map((d) => d.id)).toEqual([]);
    expect((await stats.get('totals'))).toMatchObject({ capturedTotal: expected.get('totals')!.capturedTotal, orders: { confirmed: orders } });
    await store.close();
  }, 120_000);
});
