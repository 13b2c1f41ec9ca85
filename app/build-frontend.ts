/**
 * Runs before `npm start`: builds the React app when frontend/dist is missing or older
 * than its sources, so a fresh clone needs no separate build step and later starts are instant.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const frontend = resolve(import.meta.dirname, '..', 'frontend');
const builtAt = (() => {
  const index = join(frontend, 'dist', 'index.html');
  return existsSync(index) ? statSync(index).mtimeMs : 0;
})();

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const sources = Math.max(newestSource(join(frontend, 'src')), statSync(join(frontend, 'index.html')).mtimeMs);
if (sources > builtAt) {
  console.log('building the frontend (once; later starts reuse frontend/dist)...');
  execFileSync('npm', ['run', 'build', '-w', '@saga/frontend'], { stdio: 'inherit', cwd: resolve(frontend, '..') });
}
