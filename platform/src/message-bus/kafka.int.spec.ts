import { spawn } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { messageBusContract, until } from './contract';
import { openKafkaMessageBus } from './kafka';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) console.warn('kafka.int.spec.ts: skipped, KAFKA_BROKERS is not set (start a broker with `.ci/servers.sh start kafka`)');
const brokerList = (brokers ?? '').split(',').map((b) => b.trim());

describe.skipIf(!brokers)('kafka message bus', () => {
  messageBusContract('kafka', () => openKafkaMessageBus({ brokers: brokerList, clientId: `contract-${process.pid}-${randomUUID().slice(0, 8)}` }));

  it('reads its checkpoint within 5 s after its predecessor was SIGKILLed holding an open transaction (K5)', async () => {
    const clientId = `crashed-${randomUUID().slice(0, 8)}`;
    const topic = `crash-${randomUUID().slice(0, 8)}`;
    const setup = await openKafkaMessageBus({ brokers: brokerList, clientId: `${clientId}-setup` });
    await setup.createTopics([{ name: topic, partitions: 1 }]);
    await setup.close();

    const script = path.join(import.meta.dirname, 'kafka.publisher-process.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, brokerList.join(','), clientId, topic], { stdio: ['ignore', 'pipe', 'inherit'] });
    let open = false;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => void (open ||= chunk.includes('open')));
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await until(() => open, 'the publisher to open its transaction', 45_000);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }

    const restarted = await openKafkaMessageBus({ brokers: brokerList, clientId });
    try {
      const started = Date.now();
      const value = await restarted.readCheckpoint(`cp.${clientId}`, { owner: true });
      const tookMs = Date.now() - started;
      console.log(`kafka.int.spec.ts: checkpoint read after the publisher's SIGKILL took ${tookMs} ms`);
      expect(value).toBe('committed');
      expect(tookMs).toBeLessThan(5_000);
    } finally {
      await restarted.close();
    }
  });
});
