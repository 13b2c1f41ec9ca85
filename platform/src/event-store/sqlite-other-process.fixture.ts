/**
 * A second process on the same SQLite file, driven by sqlite.int.spec.ts. It prints one JSON
 * line per thing it does, so the parent can check what another process sees.
 *
 *   subscribe <dataDir> <count> <streamId>: reads the log, subscribes from the start, prints every
 *     event it gets until it has <count>, then appends one event of its own to <streamId>.
 *   append <dataDir> <streamId> <count>: appends <count> events one by one, printing each acked
 *     result, then waits to be killed.
 */
import { randomUUID } from 'node:crypto';
import { OrderId } from '@saga/event-schemas/ids';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { openSqliteEventStore } from './sqlite';

const print = (line: object) => process.stdout.write(JSON.stringify(line) + '\n');
const confirmed = (): NewEvent<'OrderConfirmed'> => ({
  eventId: randomUUID(),
  type: 'OrderConfirmed',
  data: { orderId: OrderId.parse('child'), confirmedAt: new Date().toISOString() },
  metadata: { correlationId: 'child', causationId: 'child' },
});

const [mode, dataDir, a, b] = process.argv.slice(2);
const store = await openSqliteEventStore({ dataDir: dataDir!, pageSize: 20, pollMs: 10 });

if (mode === 'subscribe') {
  const count = Number(a);
  print({ kind: 'ready', existing: (await store.readAll()).length });
  let seen = 0;
  for await (const e of store.subscribeToAll()) {
    print({ kind: 'event', position: e.position, eventId: e.eventId });
    if (++seen >= count) break;
  }
  const own = confirmed();
  const result = await store.append(b!, [own]);
  print({ kind: 'appended', eventId: own.eventId, position: result.position });
  await store.close();
} else if (mode === 'append') {
  for (let i = 0; i < Number(b); i++) {
    const e = confirmed();
    const result = await store.append(a!, [e], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
    print({ kind: 'acked', eventId: e.eventId, ...result });
  }
  print({ kind: 'done' });
  setInterval(() => undefined, 1_000); // wait for SIGKILL: the acked appends must survive it
} else {
  throw new Error(`unknown mode ${mode}`);
}
