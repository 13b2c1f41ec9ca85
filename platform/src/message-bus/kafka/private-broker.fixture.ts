import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A Kafka broker of a test's own (.ci/servers.sh with a private SERVERS_STATE_DIR), for the tests
 * that SIGKILL it: killing it disturbs no other suite. `restart` brings it back on the same port
 * and data, as a crashed broker that its supervisor restarts.
 */
export interface PrivateBroker {
  brokers: string[];
  /** Asynchronous, so the test's own followers keep running while the broker is away. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): void;
}

const servers = path.resolve(import.meta.dirname, '../../../../.ci/servers.sh');

export function startPrivateBroker(): PrivateBroker {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'private-broker-'));
  const run = (...args: string[]) =>
    execFileSync('bash', [servers, ...args], {
      env: { ...process.env, SERVERS_STATE_DIR: stateDir },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 180_000,
    });
  const runAsync = async (...args: string[]) => {
    await promisify(execFile)('bash', [servers, ...args], { env: { ...process.env, SERVERS_STATE_DIR: stateDir }, encoding: 'utf8', timeout: 180_000 });
  };
  const started = run('start', 'kafka');
  return {
    brokers: /KAFKA_BROKERS=(\S+)/.exec(started)![1]!.split(','),
    kill: () => runAsync('kill', 'kafka'),
    restart: () => runAsync('start', 'kafka'),
    stop: () => void run('stop'),
  };
}

/** When each checkpointed publish through the bus started and how it ended, for "the kill hit a publish" checks. */
export interface PublishRecord {
  startedAt: number;
  endedAt?: number;
  failed?: boolean;
}

export function recordPublishes<B extends object>(bus: B): { bus: B; publishes: PublishRecord[] } {
  const publishes: PublishRecord[] = [];
  const watched = new Proxy(bus, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (property !== 'publishMany' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        const record: PublishRecord = { startedAt: Date.now() };
        publishes.push(record);
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (error) {
          record.failed = true;
          throw error;
        } finally {
          record.endedAt = Date.now();
        }
      };
    },
  });
  return { bus: watched, publishes };
}
