import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { openMongoDocumentStore } from '@saga/platform/document-store/mongo';
import type { DocumentStore } from '@saga/platform/document-store/port';
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

const canonical = (d: unknown) => JSON.stringify(d, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));

/** Every order document and the totals in the store equal folding all the events once (a rebuild). */
async function expectEqualsRebuild(store: DocumentStore, orders: number): Promise<void> {
  const { order, payment } = replicaEvents(orders);
  const expected = projectAll(statsProjection, [...order, ...payment].sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0)));
  const stats = await store.collection(statsProjection.collection);
  const live = await stats.getMany([...expected.keys()]);
  expect(live.length).toBe(expected.size);
  const differing = live.filter((d) => canonical(d) !== canonical(expected.get(d.id)));
  expect(differing.map((d) => d.id)).toEqual([]);
  expect(await stats.get('totals')).toMatchObject({ capturedTotal: expected.get('totals')!.capturedTotal, orders: { confirmed: orders } });
}

const orders = 1500;
const mongoUrl = process.env.MONGODB_URL;
const FERRETDB_CAS = 'FerretDB 1.24 does not isolate two concurrent conditional updates of one document, so compare-and-set is not atomic there';
if (!mongoUrl) console.warn('replicas.int.spec: MONGODB_URL is not set; skipping the MongoDB case');
else if (process.env.MONGODB_SERVER === 'ferretdb') console.warn(`replicas.int.spec: on FerretDB the MongoDB case runs the replicas one after the other: ${FERRETDB_CAS}`);

describe('two projector replicas in two processes on one read model (K8)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replicas-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('on SQLite: every order document and the totals equal a rebuild from the same events', async () => {
    // One replica gets the order streams, the other the payment streams: both write every order's figures and the totals.
    await runTogether([[dir, 'order', String(orders)], [dir, 'payment', String(orders)]]);
    const store = await openSqliteDocumentStore({ dataDir: dir });
    try {
      await expectEqualsRebuild(store, orders);
    } finally {
      await store.close();
    }
  }, 120_000);

  // FerretDB's conditional update is not atomic (measured: with 200 orders overlapping, a totals update was lost), and
  // it slows steeply under two writers (100 orders 5 s, 400 orders 31 s, 1,500 past 240 s). There the replicas run one
  // after the other: that proves projected documents are accepted and fold right, not the race; real MongoDB proves that.
  const ferret = process.env.MONGODB_SERVER === 'ferretdb';
  const mongoOrders = ferret ? 200 : orders;
  it.skipIf(!mongoUrl)('on MongoDB: every order document and the totals equal a rebuild from the same events', async () => {
    const dbName = `replicas_${randomUUID().slice(0, 8)}`;
    const store = await openMongoDocumentStore({ url: mongoUrl ?? '', dbName });
    try {
      const args = (kind: string) => [dir, kind, String(mongoOrders), mongoUrl ?? '', dbName];
      if (ferret) for (const kind of ['order', 'payment']) await runTogether([args(kind)]);
      else await runTogether([args('order'), args('payment')]);
      await expectEqualsRebuild(store, mongoOrders);
    } finally {
      const client = await MongoClient.connect(mongoUrl ?? '');
      await client.db(dbName).dropDatabase();
      await client.close();
      await store.close();
    }
  }, 240_000);
});
