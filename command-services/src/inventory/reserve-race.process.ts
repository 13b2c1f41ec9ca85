/**
 * Test helper run as a separate OS process by handlers.int.spec.ts: it opens the same SQLite
 * event store and reserves for its orders, racing the parent process for the same stock.
 * argv: dataDir, first order index, count. Prints "ready", reads the start time (epoch ms) on
 * stdin, sends reservation i at start + 2i ms (as the parent does), prints "done".
 */
import { once } from 'node:events';
import type { OrderId, Sku } from '@saga/event-schemas/ids';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { envelopeOf } from '../shared/test-support';
import { createInventoryHandlers } from './handlers';

const [dataDir, from, count] = process.argv.slice(2);
const store = await openSqliteEventStore({ dataDir: dataDir! });
const inventory = createInventoryHandlers({ store, clock: () => new Date() });
await inventory.snapshot();
process.stdout.write('ready\n');
const [startAt] = (await once(process.stdin.setEncoding('utf8'), 'data')) as [string];
const first = Number(from);
await Promise.all(
  Array.from({ length: Number(count) }, async (_, i) => {
    await new Promise((r) => setTimeout(r, Number(startAt) + 2 * i - Date.now()));
    return inventory.handleSagaCommand(
      envelopeOf('ReserveStock', { orderId: `race-${first + i}` as OrderId, items: [{ sku: 'LAMP-001' as Sku, quantity: 1 }] }),
    );
  }),
);
await store.close();
process.stdout.write('done\n');
