/**
 * Fuzzes the running embedded system from its own OpenAPI document with schemathesis: every
 * operation, every check (no 5xx, status codes, content types and bodies as documented,
 * problem+json on every 4xx, 405/Allow, auth), and the stateful links (place -> get -> cancel).
 * Bounded: a fixed seed and example count, and a time budget, so it takes about a minute (the budget: fuzzing and stateful runs repeat until it is spent).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, removeDataDir, startSystem, type RunningSystem } from './harness';

const root = resolve(import.meta.dirname, '..');
/** Where .ci/schemathesis.sh installs it (keep the version in step with that script). */
const cached = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'order-saga', 'schemathesis-4.32.5', 'bin', 'schemathesis');
const schemathesis = process.env.SCHEMATHESIS ?? (existsSync(cached) ? cached : undefined);

if (!schemathesis) {
  const why = `schemathesis not found (set SCHEMATHESIS or run .ci/schemathesis.sh, which installs it at ${cached})`;
  if (process.env.CI) throw new Error(`${why}: CI must fuzz the API`);
  console.warn(`skipping the schemathesis fuzz: ${why}`);
}

describe.skipIf(!schemathesis)('the API against its OpenAPI document (schemathesis)', () => {
  let system: RunningSystem;
  let token: string;

  beforeAll(async () => {
    system = await startSystem();
    token = (await new Client(system.baseUrl).login('admin@example.com', 'admin-password')).token!;
  });
  afterAll(async () => {
    await system?.stop();
    if (system) removeDataDir(system.dataDir);
  });

  it('finds no failure in any operation', () => {
    const started = Date.now();
    const run = spawnSync(
      schemathesis!,
      [
        '--config-file',
        join(root, '.ci/schemathesis.toml'),
        'run',
        `${system.baseUrl}/api/openapi.json`,
        '--header',
        `Authorization: Bearer ${token}`,
        '--checks',
        'all',
        '--max-examples',
        '50',
        '--seed',
        '7',
        '--max-time',
        '60',
        '--request-timeout',
        '10',
        // One worker: CPython 3.11's AST constructor is not thread-safe (schemathesis compiles patterns per thread).
        '--workers',
        '1',
        '--no-color',
      ],
      // Its example database and reports go to a temp dir, not into the work tree.
      { cwd: system.dataDir, encoding: 'utf8', timeout: 200_000, env: { ...process.env, NO_COLOR: '1' } },
    );
    const output = `${run.stdout}\n${run.stderr}`;
    console.log(`schemathesis took ${Math.round((Date.now() - started) / 1000)} s:\n${output.split('\n').slice(-16).join('\n')}`);
    expect(run.error).toBeUndefined();
    // Every operation of the document (30 with the dead-letter routes) was exercised.
    expect(output).toMatch(/Tested: 3\d/);
    expect(output).toMatch(/\d+ generated, \d+ passed/);
    expect(run.status, output).toBe(0);
  }, 240_000);
});
