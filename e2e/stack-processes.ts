/**
 * The system as separate OS processes, one service each (`node app/run.mjs main <service>`,
 * what `npm start` runs), on one DATA_DIR and, when given, the real servers: for the tests
 * that scale services out and SIGKILL some of them. Each process's boot time (spawn to its
 * "is running" banner) is kept so the test can print it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, startCommand } from './harness';

const root = resolve(import.meta.dirname, '..');

/** `node app/build.mjs`, so no process below times a build (what `npm ci` leaves behind). */
export function buildOnce(): void {
  const built = spawnSync(process.execPath, [join(root, 'app/build.mjs')], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`app/build.mjs exited ${built.status}`);
}

export interface ServiceProcess {
  /** e.g. `saga#2`. */
  label: string;
  service: string;
  child: ChildProcess;
  pid: number;
  /** Where the gateway answers. */
  url?: string;
  bootMs: number;
  output(): string;
  /** SIGKILL, no chance to clean up; resolves once it has exited. */
  kill(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface StackEnv {
  DATA_DIR: string;
  [name: string]: string;
}

/** The environment every process of one stack shares: embedded unless server URLs are given. */
export function stackEnv(dataDir: string, extra: Record<string, string> = {}): StackEnv {
  return {
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    EVENTSTORE_URL: '',
    KAFKA_BROKERS: '',
    MONGODB_URL: '',
    SMTP_URL: '',
    ...extra,
  };
}

const BANNER = 'order saga system is running';

/** Every process started here, so a test that fails halfway through a start still ends them all. */
const spawned = new Set<ChildProcess>();

/** SIGKILLs every service process this module started that is still running, and waits for them. */
export async function killAllServiceProcesses(): Promise<void> {
  await Promise.all(
    [...spawned].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  spawned.clear();
}

/** A process that exited before it ran: its label and the last of its output. */
export interface BootFailure {
  label: string;
  code: number | string | null;
  output: string;
}

/**
 * Starts a service and, if it exits before it runs, starts it again up to `restarts` times, as
 * compose's `restart: unless-stopped` would; each such exit is recorded in `failures`.
 */
export async function startServiceWithRestarts(service: string, label: string, env: StackEnv, failures: BootFailure[], restarts = 8): Promise<ServiceProcess> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startServiceProcess(service, label, env);
    } catch (error) {
      if (!(error instanceof BootExit) || attempt >= restarts) throw error;
      failures.push({ label, code: error.code, output: error.output.slice(-1500) });
    }
  }
}

class BootExit extends Error {
  constructor(
    label: string,
    readonly code: number | string | null,
    readonly output: string,
  ) {
    super(`${label} exited (${code}) before it ran:\n${output}`);
  }
}

/** Starts one service in a process of its own and resolves once it is running (the gateway: once /healthz answers). */
export async function startServiceProcess(service: string, label: string, env: StackEnv, timeoutMs = 90_000): Promise<ServiceProcess> {
  const port = service === 'gateway' ? await freePort() : 0;
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...startCommand, service], {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(child);
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d));
  child.stderr!.on('data', (d: Buffer) => (log += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = service === 'gateway' ? `http://127.0.0.1:${port}` : undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new BootExit(label, child.exitCode ?? child.signalCode, log);
    let up = log.includes(BANNER);
    if (up && url) up = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${label} did not start in ${timeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const bootMs = Math.round(performance.now() - spawnedAt);
  return {
    label,
    service,
    child,
    pid: child.pid!,
    ...(url ? { url } : {}),
    bootMs,
    output: () => log,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** CPU time (user + system, ms) a running process has used so far, from /proc (Linux). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / clockTicksPerSecond;
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const clockTicksPerSecond = 100;
