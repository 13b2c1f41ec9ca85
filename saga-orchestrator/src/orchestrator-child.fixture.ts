/**
 * The saga orchestrator in a process of its own (orchestrator.process.ts) on a shared embedded
 * data directory, for the tests that SIGKILL it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'orchestrator.process.ts');

/** Starts it and resolves once it consumes (it prints `ready`). */
export function startOrchestrator(dataDir: string, options: { stepTimeoutMs: number; leaseTtlMs: number }): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      SAGA_STEP_TIMEOUT_MS: String(options.stepTimeoutMs),
      SAGA_BUS_LEASE_TTL_MS: String(options.leaseTtlMs),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`orchestrator exited early (${code})`)));
  });
}

/** SIGKILL: no chance to clean up. Resolves once it has exited. */
export function killOrchestrator(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
