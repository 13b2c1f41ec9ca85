/**
 * `npm run bench:commands [-- --quick]`: place-order commands per second over HTTP on the
 * embedded stack (SQLite event and document stores in a temp dir, the real command routes
 * with JWT, zod, the simulated gateway's tokenizer, pricing from the inventory, the order
 * handler's read-decide-append), beside the same Express app (same middleware: helmet,
 * ids, logging, metrics, JSON parsing) answering a trivial zod-validated POST in the same run:
 * the HTTP ceiling. The ceiling skips the JWT check, so the ratio charges token verification
 * to the command. Rounds alternate
 * the two; the ratio is the median of each round's pair (ceiling, then orders right after),
 * so a noisy neighbour on a shared machine hurts both sides of a pair alike. Then the bus
 * benchmark (bench/bus.bench.ts) beside raw SQLite inserts.
 *
 * Clients are keep-alive node:http connections in this same process (2 shared cores: a
 * lighter client than fetch leaves more CPU to the server on both sides of the ratio).
 * Beside requests per second, each side's CPU per request: the event loop thread's (client and
 * server, from /proc on Linux) and the whole process's (with the fsync pool, the checkpointer
 * and the GC threads). On a machine shared with other work the throughput of a round swings
 * with the neighbours; CPU per request moves much less, so its ratio is the steadier figure.
 * What is not measured: the relay, saga and projectors that would also run in `npm start`.
 */
import fs from 'node:fs';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AddProductRequest } from '@saga/event-schemas/inventory';
import { parseWith } from '@saga/platform/http/validate';
import { startTestStack } from '@saga/command-services/http/test-stack';
import { runBusBench } from './bus.bench';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 7;
const ROUND_MS = quick ? 1_000 : 1_500;
const CONNECTIONS = 16;
const BUS_MESSAGES = quick ? 10_000 : 30_000;

const Ping = z.strictObject({ items: z.array(z.strictObject({ sku: z.string(), quantity: z.int().positive() })).min(1) });

/** CPU time (µs) of this process's main thread, where /proc tells it (Linux); else undefined. */
function mainThreadCpu(): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime (fields 14 and 15 of stat, 11 and 12 after the name) in clock ticks, 100 per second on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

interface Round {
  perSecond: number;
  /** µs of CPU per request: the main thread's (undefined off Linux) and the whole process's. */
  mainCpu: number | undefined;
  processCpu: number;
}

interface Target {
  path: string;
  body: () => string;
  expect: number;
}

/** Runs CONNECTIONS closed-loop clients for `ms`; answers requests per second and CPU per request, and adds each request's latency (ms) to `latencies`. */
async function load(baseUrl: string, token: string, target: Target, ms: number, latencies: number[] = []): Promise<Round> {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const deadline = performance.now() + ms;
  let done = 0;
  const one = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: target.path,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const main0 = mainThreadCpu();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        const status = await one(target.body());
        latencies.push(performance.now() - sent);
        if (status !== target.expect) throw new Error(`${target.path} answered ${status}, expected ${target.expect}`);
        done++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadCpu();
  agent.destroy();
  return {
    perSecond: done / seconds,
    mainCpu: main0 === undefined || main1 === undefined ? undefined : (main1 - main0) / done,
    processCpu: (cpu.user + cpu.system) / done,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(8);

const stack = await startTestStack({
  mount: (app) => {
    app.post('/bench/ping', (req, res) => {
      const { items } = parseWith(Ping, req.body);
      res.status(202).json({ orderId: randomUUID(), lines: items.length });
    });
  },
});

try {
  await stack.inventory.addProduct(AddProductRequest.parse({ sku: 'MUG-001', name: 'Mug', price: 1250, currency: 'EUR', stock: 1_000_000 }));
  const customer = await stack.users.register({ email: 'bench@example.com', password: 'bench-password', name: 'Bench' });
  const token = stack.jwt.sign(customer);
  const order = JSON.stringify({ items: [{ sku: 'MUG-001', quantity: 1 }], payment: { card: '4242424242424242' } });
  const ping = JSON.stringify({ items: [{ sku: 'MUG-001', quantity: 1 }] });
  const targets = {
    ceiling: { path: '/bench/ping', body: () => ping, expect: 202 },
    orders: { path: '/api/orders', body: () => order, expect: 202 },
  };

  // Warm-up: JIT, prepared statements, SQLite page cache.
  await load(stack.baseUrl, token, targets.ceiling, 500);
  await load(stack.baseUrl, token, targets.orders, 500);

  const ceilingRounds: Round[] = [];
  const orderRounds: Round[] = [];
  const latency = { ceiling: [] as number[], orders: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    ceilingRounds.push(await load(stack.baseUrl, token, targets.ceiling, ROUND_MS, latency.ceiling));
    orderRounds.push(await load(stack.baseUrl, token, targets.orders, ROUND_MS, latency.orders));
  }
  const ceiling = ceilingRounds.map((r) => r.perSecond);
  const orders = orderRounds.map((r) => r.perSecond);
  // A position is no count: the embedded store counts its events.
  const appended = await stack.store.countEvents!();
  const ratios = orders.map((o, i) => o / ceiling[i]!);
  const round = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
  console.log(`commands bench: ${CONNECTIONS} keep-alive connections, ${ROUNDS} alternating rounds of ${ROUND_MS} ms, medians`);
  console.log(`HTTP ceiling (zod-validated POST) ${fmt(median(ceiling))} req/s   rounds ${round(ceiling)}`);
  console.log(`place order (202, appended)       ${fmt(median(orders))} req/s   rounds ${round(orders)}`);
  console.log(`ratio place-order / ceiling       ${median(ratios).toFixed(2)} (aim >= 0.7)   per round ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
  // Ceiling's CPU per request over place-order's: the throughput ratio a CPU-bound loop would reach.
  const cpuLine = (label: string, of: (r: Round) => number | undefined) => {
    const c = ceilingRounds.map(of);
    const o = orderRounds.map(of);
    if (c.some((x) => x === undefined) || o.some((x) => x === undefined)) return;
    const pairs = c.map((x, i) => x! / o[i]!);
    console.log(
      `CPU us/request, ${label.padEnd(12)} ceiling ${fmt(median(c as number[]))}  place order ${fmt(median(o as number[]))}   ratio ${median(pairs).toFixed(2)}   per round ${pairs.map((r) => r.toFixed(2)).join(', ')}`,
    );
  };
  cpuLine('main thread', (r) => r.mainCpu);
  cpuLine('process', (r) => r.processCpu);
  // With CONNECTIONS requests in flight a stall of the event loop lands on all of them, so the tail shows it.
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(1);
  const tail = (xs: number[]) => `p50 ${pct(xs, 0.5)} ms  p99 ${pct(xs, 0.99)} ms  p99.9 ${pct(xs, 0.999)} ms`;
  console.log(`latency ceiling                   ${tail(latency.ceiling)}`);
  console.log(`latency place order               ${tail(latency.orders)}`);
  console.log(`events in the store afterwards  ${appended}`);
} finally {
  await stack.close();
}

const bus = await runBusBench({ messages: BUS_MESSAGES });
console.log(`bus bench: ${BUS_MESSAGES} messages, batches of 100`);
console.log(`raw better-sqlite3 insert ${fmt(bus.rawInsertPerSec)} msg/s`);
console.log(`bus publish               ${fmt(bus.publishPerSec)} msg/s   ratio ${(bus.publishPerSec / bus.rawInsertPerSec).toFixed(2)} (aim >= 0.5)`);
console.log(`bus consume               ${fmt(bus.consumePerSec)} msg/s   ratio ${(bus.consumePerSec / bus.rawInsertPerSec).toFixed(2)} (aim >= 0.5)`);
