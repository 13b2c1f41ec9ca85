/**
 * `node app/run.mjs <entry> [args...]`: runs dist/<entry>.js (see `entries` in app/build.mjs)
 * in this process, building it first only if its sources changed. This is what `npm start`
 * execs, so the process npm spawns is the app itself and receives SIGTERM and SIGINT directly.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dist, entries, frontendStale, serverStale } from './build.mjs';

const [entry = 'main', ...args] = process.argv.slice(2);
if (!(entry in entries)) {
  console.error(`usage: node app/run.mjs <${Object.keys(entries).join('|')}> [args...]`);
  process.exit(2);
}

if (serverStale() || (entry === 'main' && frontendStale())) {
  // In a child, so the bundlers' modules and handles never live in the app's process.
  const built = spawnSync(process.execPath, [join(import.meta.dirname, 'build.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

const script = join(dist, `${entry}.js`);
// The entry reads its arguments from argv as if node had been started on it.
process.argv = [process.argv[0], script, ...args];
await import(pathToFileURL(script).href);
