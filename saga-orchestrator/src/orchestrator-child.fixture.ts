/**
 * The saga orchestrator (orchestrator.process.ts) or the payment service (payment.process.ts) in
 * a process of its own on a shared embedded data directory, for the tests that SIGKILL them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const orchestratorScript = path.join(here, 'orchestrator.process.ts');
const paymentScript = path.join(here, '..', '..', 'command-services', 'src', 'payment', 'payment.process.ts');

/** Starts the orchestrator and resolves once it consumes (it prints `ready`). */
export function startOrchestrator(
  dataDir: string,
  options: { stepTimeoutMs: number; leaseTtlMs: number; env?: Record<string, string>; onLine?: (line: string) => void },
): Promise<ChildProcess> {
  return startChild(
    orchestratorScript,
    {
      DATA_DIR: dataDir,
      SAGA_STEP_TIMEOUT_MS: String(options.stepTimeoutMs),
      SAGA_BUS_LEASE_TTL_MS: String(options.leaseTtlMs),
      ...options.env,
    },
    options.onLine,
  );
}

/** Starts the payment service and resolves once it consumes. */
export function startPaymentService(dataDir: string, options: { stepTimeoutMs: number; leaseTtlMs: number }): Promise<ChildProcess> {
  return startChild(paymentScript, {
    DATA_DIR: dataDir,
    SAGA_STEP_TIMEOUT_MS: String(options.stepTimeoutMs),
    PAYMENT_BUS_LEASE_TTL_MS: String(options.leaseTtlMs),
  });
}

/** `onLine` gets every line the child prints, from its first. */
function startChild(script: string, env: Record<string, string>, onLine?: (line: string) => void): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let partial = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') resolve(child);
        onLine?.(line);
      }
    });
    child.once('exit', (code) => reject(new Error(`${path.basename(script)} exited early (${code})`)));
  });
}

/** SIGKILL: no chance to clean up. Resolves once it has exited. */
export function killChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export const killOrchestrator = killChild;
