/** The operator CLI (cli/saga.ts) against a started system: each command, --json, errors and exit codes. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, freePort, removeDataDir, startSystem, type RunningSystem } from './harness';

const root = resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
/** The admin token most commands run with (signing in each time would trip the login rate limits). */
let adminToken = '';
function saga(args: string[], env: Record<string, string> = { SAGA_TOKEN: adminToken }): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'cli/saga.ts'), ...args], {
      cwd: root,
      env: { ...process.env, SAGA_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('the saga CLI', () => {
  let system: RunningSystem;
  let admin: string[];
  let orderId: string;

  beforeAll(async () => {
    system = await startSystem();
    admin = ['--url', system.baseUrl];
    adminToken = (await new Client(system.baseUrl).login('admin@example.com', 'admin-password')).token!;
    const alice = await new Client(system.baseUrl).login('alice@example.com', 'alice-password');
    const placed = await alice.request<{ orderId: string }>('POST', '/api/orders', {
      items: [{ sku: 'MUG-001', quantity: 1 }],
      payment: { card: '4242424242424242' },
    });
    orderId = placed.body.orderId;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const saga = await alice.request<{ status: string }>('GET', `/api/sagas/${orderId}`);
      if (saga.status === 200 && saga.body.status === 'completed') break;
      if (Date.now() > deadline) throw new Error(`saga of ${orderId} did not complete`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    await system?.stop();
    if (system) removeDataDir(system.dataDir);
  });

  it('lists sagas and shows one, for people and as JSON', async () => {
    const list = await saga(['sagas', ...admin]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${orderId}\\s+completed`));
    const json = await saga(['sagas', '--json', ...admin]);
    expect(JSON.parse(json.stdout).items.map((s: { orderId: string }) => s.orderId)).toContain(orderId);
    const one = await saga(['saga', orderId, '--json', ...admin]);
    expect(JSON.parse(one.stdout)).toMatchObject({ orderId, status: 'completed', state: 'completed' });
  });

  it('reads the global log, one JSON event a line', async () => {
    const log = await saga(['log', '--json', ...admin]);
    expect(log.code, log.stderr).toBe(0);
    const types = log.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(expect.arrayContaining(['ProductAdded', 'OrderPlaced', 'OrderConfirmed']));
  });

  it('rebuilds a projection to the end and reports it', async () => {
    const run = await saga(['rebuild', 'orders', '--json', ...admin]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ projection: 'orders', phase: 'done' });
  });

  it('re-publishes a range of the log to one group', async () => {
    const log = await (await new Client(system.baseUrl).login('admin@example.com', 'admin-password')).request<{ events: { position: string }[] }>(
      'GET',
      '/api/log?limit=3',
    );
    const [first, , third] = log.body.events.map((e) => e.position);
    const run = await saga(['republish', '--group', 'cli-test', '--from', first!, '--to', third!, '--json', ...admin]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ groupId: 'cli-test', topic: 'replay.cli-test', fromPosition: first, toPosition: third, published: 3 });
  });

  it('signs in with SAGA_TOKEN or --email/--password', async () => {
    const token = (await new Client(system.baseUrl).login('admin@example.com', 'admin-password')).token!;
    const run = await saga(['projections', '--url', system.baseUrl], { SAGA_TOKEN: token });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^orders\s+/m);
    const signedIn = await saga(['projections', '--json', '--url', system.baseUrl, '--email', 'admin@example.com', '--password', 'admin-password'], {});
    expect(signedIn.code, signedIn.stderr).toBe(0);
    expect(JSON.parse(signedIn.stdout).items.map((p: { name: string }) => p.name)).toContain('orders');
  });

  // No real dead letter here: nothing in a healthy started system fails on its content, and the
  // spec cannot publish into the system's bus from outside (read-api/src/dead-letters.int.spec.ts does, on a real bus).
  it('lists dead letters and refuses to retry an unknown one', async () => {
    const listed = await saga(['dead-letters', '--json', ...admin]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ items: [], nextCursor: null });
    const human = await saga(['dead-letters', ...admin]);
    expect(human.stdout).toContain('0 dead letter(s)');
    const retried = await saga(['retry', '0'.repeat(24), ...admin]);
    expect(retried.code).toBe(1);
    expect(retried.stderr).toContain('404');
  });

  it('says clearly what went wrong, with distinct exit codes', async () => {
    const noAuth = await saga(['sagas', '--url', system.baseUrl], {});
    expect(noAuth.code).toBe(2);
    expect(noAuth.stderr).toContain('sign in with --email and --password, or set SAGA_TOKEN');

    const wrong = await saga(['sagas', '--url', system.baseUrl, '--email', 'admin@example.com', '--password', 'nope'], {});
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('401 Unauthorized: invalid email or password');

    const customer = await saga(['sagas', '--url', system.baseUrl, '--email', 'alice@example.com', '--password', 'alice-password'], {});
    expect(customer.code).toBe(1);
    expect(customer.stderr).toContain('403');

    const unknown = await saga(['frobnicate', ...admin]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command frobnicate');

    const badFlag = await saga(['sagas', '--limit', 'x', ...admin]);
    expect(badFlag.code).toBe(2);

    const down = await saga(['sagas', '--url', `http://127.0.0.1:${await freePort()}`], { SAGA_TOKEN: 'x' });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach');
  });
});
