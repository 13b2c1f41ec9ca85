/**
 * A consumer in a process of its own, for the tests that prove two processes share one bus
 * file: prints `ready`, then one JSON line per message it handles, until killed.
 */
import { openSqliteMessageBus } from './sqlite';

const [dataDir, groupId, topic, membershipJson, ephemeral] = process.argv.slice(2);
if (!dataDir || !groupId || !topic) throw new Error('usage: sqlite.consumer-process.ts <dataDir> <groupId> <topic> [membership JSON] [ephemeral]');

const membership = membershipJson ? (JSON.parse(membershipJson) as { heartbeatMs: number; leaseTtlMs: number }) : { heartbeatMs: 100, leaseTtlMs: 600 };
const bus = await openSqliteMessageBus({ dataDir, membership });
await bus.consume({
  groupId,
  topics: [topic],
  ...(ephemeral === 'ephemeral' ? { ephemeral: true } : {}),
  handler: async (m) => {
    process.stdout.write(`${JSON.stringify({ value: m.value, partition: m.partition, offset: m.offset, at: Date.now() })}\n`);
  },
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => void bus.close().then(() => process.exit(0)));
