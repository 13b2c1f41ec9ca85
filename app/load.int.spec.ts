import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const loader = path.resolve(import.meta.dirname, 'load.cjs');
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) {
    fs.chmodSync(dir, 0o700);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A bundle that prints what it was built to print, and where it runs from. */
function bundle(answer: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'load-cjs-'));
  dirs.push(dir);
  const file = path.join(dir, 'entry.cjs');
  fs.writeFileSync(file, `console.log(JSON.stringify({ answer: ${JSON.stringify(answer)}, dirname: __dirname, file: __filename, argv1: process.argv[1] }));\n`);
  return file;
}

function run(file: string): { answer: string; dirname: string; file: string } {
  const out = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(loader)}).runBundle(${JSON.stringify(file)})`], { encoding: 'utf8' });
  expect(out.status, out.stderr).toBe(0);
  return JSON.parse(out.stdout.trim()) as { answer: string; dirname: string; file: string };
}

describe('app/load.cjs', () => {
  it('runs a bundle as its own module and keeps its code cache beside it, keyed to that build', () => {
    const file = bundle('first');
    expect(run(file)).toMatchObject({ answer: 'first', dirname: path.dirname(file), file });
    const cache = fs.readFileSync(`${file}.v8-cache`);
    const key = cache.subarray(0, cache.indexOf(10)).toString();
    expect(key).toBe(`${process.version} ${process.arch} ${(process.config.variables as Record<string, unknown>).node_module_version} ${fs.statSync(file).size} ${fs.statSync(file).mtimeMs}`);
    expect(cache.length).toBeGreaterThan(key.length + 1);
    // A second run uses it and leaves it as it is.
    expect(run(file).answer).toBe('first');
    expect(fs.readFileSync(`${file}.v8-cache`).equals(cache)).toBe(true);
  });

  it('never runs a cache made for another build of the bundle, even of the same length', () => {
    const file = bundle('first');
    run(file);
    const before = fs.readFileSync(`${file}.v8-cache`);
    // Rebuilt: same length, other code (V8's own check compares the source's length only).
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"first"', '"other"'));
    const later = new Date(fs.statSync(file).mtimeMs + 5_000);
    fs.utimesSync(file, later, later);
    expect(run(file).answer).toBe('other');
    // And the cache is made again for the new build.
    expect(fs.readFileSync(`${file}.v8-cache`).equals(before)).toBe(false);
    expect(run(file).answer).toBe('other');
  });

  it('runs without a cache where it cannot write one', () => {
    if (process.getuid?.() === 0) {
      // root writes into a read-only directory anyway; a corrupt cache is the failure that stays to test.
      const file = bundle('first');
      run(file);
      const cache = fs.readFileSync(`${file}.v8-cache`);
      const key = cache.subarray(0, cache.indexOf(10) + 1);
      fs.writeFileSync(`${file}.v8-cache`, Buffer.concat([key, Buffer.from('not a code cache')]));
      expect(run(file).answer).toBe('first');
      return;
    }
    const file = bundle('first');
    fs.chmodSync(path.dirname(file), 0o500);
    expect(run(file).answer).toBe('first');
    expect(fs.existsSync(`${file}.v8-cache`)).toBe(false);
  });
});
