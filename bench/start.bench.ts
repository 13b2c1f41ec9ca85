/**
 * `npm run bench:start [-- --runs N] [-- --data-dir DIR]`: how long `npm start`'s process
 * takes from its spawn to the first `/healthz` 200, on a populated data dir, beside the same
 * measure in the same run for a bare node HTTP server (spawn, listen, answer): the floor no
 * node process can beat on this machine. Rounds alternate the two; the ratio is the median of
 * each round's pair, so a noisy neighbour hurts both sides alike.
 *
 * The data dir is a fresh one that a first start seeds and an order goes through, unless
 * `--data-dir` names one (e.g. one with 1M events written by
 * `npx tsx bench/projections.bench.ts --events 1000000 --data-dir DIR`; it is used in place,
 * so copy it first if it must stay as it is). The first start of a new build writes the
 * bundle's code cache (app/load.cjs); it is made before the rounds, as any start after the
 * first one finds it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, freePort, startCommand, startSystem } from '../e2e/harness';

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const RUNS = Number(option('--runs') ?? 7);
const root = resolve(import.meta.dirname, '..');

const bareServer = `require('node:http').createServer((_req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');`;

/** ms from the spawn to the first 200 on `path`, then a SIGTERM and the wait for its exit. */
async function timeToFirstAnswer(command: string[], env: NodeJS.ProcessEnv, path: string): Promise<number> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const child = spawn(command[0]!, command.slice(1), { cwd: root, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited with ${child.exitCode} before it answered`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - spawnedAt;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function main() {
  const given = option('--data-dir');
  const dataDir = given ?? mkdtempSync(join(tmpdir(), 'bench-start-'));
  // The first start seeds (or, on a given dir, catches up), writes the code cache, and places an order.
  const first = await startSystem({ dataDir });
  const alice = await new Client(first.baseUrl).login('alice@example.com', 'alice-password');
  const placed = await alice.request('POST', '/api/orders', { items: [{ sku: 'MUG-001', quantity: 1 }], payment: { card: '4242424242424242' } }, { 'idempotency-key': randomUUID() });
  if (placed.status !== 202) throw new Error(`place order: ${placed.status}`);
  await new Promise((r) => setTimeout(r, 1_500));
  if ((await first.stop()) !== 0) throw new Error('the first start did not stop cleanly');

  const env = { ...process.env, HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', EVENTSTORE_URL: '', KAFKA_BROKERS: '', MONGODB_URL: '', SMTP_URL: '' };
  const bare: number[] = [];
  const system: number[] = [];
  const ratios: number[] = [];
  console.log(`spawn -> first 200, ${RUNS} rounds, data dir ${dataDir}${given ? '' : ' (fresh, one order)'}`);
  for (let round = 0; round < RUNS; round++) {
    const b = await timeToFirstAnswer([process.execPath, '-e', bareServer], env, '/');
    const s = await timeToFirstAnswer([process.execPath, ...startCommand], env, '/healthz');
    bare.push(b);
    system.push(s);
    ratios.push(s / b);
    console.log(`  round ${round + 1}: bare node http ${ms(b)}, npm start's process ${ms(s)} (${(s / b).toFixed(2)}x)`);
  }
  console.log('');
  console.log(`bare node http server (baseline): median ${ms(median(bare))}, best ${ms(Math.min(...bare))}`);
  console.log(`node app/run.mjs main -> /healthz: median ${ms(median(system))}, best ${ms(Math.min(...system))}, worst ${ms(Math.max(...system))}`);
  console.log(`ratio to the baseline (median of the rounds' ratios): ${median(ratios).toFixed(2)}x; above it: ${ms(median(system) - median(bare))}`);
  if (!given) rmSync(dataDir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
