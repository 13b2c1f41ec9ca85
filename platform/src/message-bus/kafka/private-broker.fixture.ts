import { execFileSync } from 'node:child_process';
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
  kill(): void;
  restart(): void;
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
  const started = run('start', 'kafka');
  return {
    brokers: /KAFKA_BROKERS=(\S+)/.exec(started)![1]!.split(','),
    kill: () => void run('kill', 'kafka'),
    restart: () => void run('start', 'kafka'),
    stop: () => void run('stop'),
  };
}
