import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { until } from '../message-bus/contract';
import type { BusMessage, MessageBus } from '../message-bus/port';

/**
 * A log follower (relay, dispatcher) in a process of its own, for the tests that run several at
 * once and SIGKILL the active one. The process prints `active` or `standby` when its lease changes.
 */
export interface FollowerProcess {
  readonly child: ChildProcess;
  readonly state: 'active' | 'standby' | undefined;
  readonly exited: Promise<unknown>;
  kill(): Promise<void>;
}

export function spawnFollower(script: string, args: string[]): FollowerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let state: 'active' | 'standby' | undefined;
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line === 'active' || line === 'standby') state = line;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    child,
    get state() {
      return state;
    },
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits until exactly one of the processes is active and all the others said standby, for `settleMs` on end. */
export async function oneActive(processes: FollowerProcess[], timeoutMs: number, settleMs = 1_500): Promise<FollowerProcess> {
  let since = 0;
  let active: FollowerProcess | undefined;
  await until(
    () => {
      const actives = processes.filter((p) => p.state === 'active');
      const settled = actives.length === 1 && processes.every((p) => p.state !== undefined);
      if (!settled || actives[0] !== active) {
        active = settled ? actives[0] : undefined;
        since = Date.now();
        return false;
      }
      return Date.now() - since >= settleMs;
    },
    `exactly one of ${processes.length} followers active`,
    timeoutMs,
  );
  return active!;
}

/**
 * Every message with one of `keys` on `topics`, read by a fresh consumer group (read_committed on
 * Kafka), once at least `expected` arrived and a second more passed for any duplicate to show.
 */
export async function readKeys(bus: MessageBus, topics: string[], keys: Set<string>, expected: number, timeoutMs = 60_000): Promise<BusMessage[]> {
  const received: BusMessage[] = [];
  const consumer = await bus.consume({ groupId: `reader-${randomUUID()}`, topics, handler: async (m) => void (keys.has(m.key) && received.push(m)) });
  try {
    await until(() => received.length >= expected, `${expected} messages on ${topics.join(', ')}`, timeoutMs);
    await new Promise((r) => setTimeout(r, 1_000));
  } finally {
    await consumer.stop();
  }
  return received;
}
