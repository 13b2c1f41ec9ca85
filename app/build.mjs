/**
 * Builds what `npm start` runs, each part only when its sources changed since it was built:
 * the process entry points bundled by esbuild into dist/, and the React app into frontend/dist.
 *
 * Plain JavaScript run by node, so the check before every start costs a few milliseconds of
 * stat calls, not a TypeScript loader. Run by `npm ci` (prepare), `npm run build` and, when
 * something is stale, by app/run.mjs before it starts an entry. A lock directory in dist/
 * makes several processes started at once on a fresh clone build once: the others wait,
 * then find it fresh.
 *
 * `node app/build.mjs [--force]`
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(import.meta.dirname, '..');
export const dist = join(root, 'dist');
const frontend = join(root, 'frontend');

/** Process entry points by the name app/run.mjs is given; each becomes dist/<name>.js. */
export const entries = {
  main: 'app/main.ts',
  'rebuild-cli': 'projections/src/rebuild-cli.ts',
  orchestrator: 'saga-orchestrator/src/orchestrator.process.ts',
  // The rebuild's worker thread (projections/src/rebuild/spawn.ts starts it from beside its bundle).
  'rebuild-worker': 'projections/src/rebuild/worker.ts',
};

/**
 * Left to node_modules: better-sqlite3 is native; the three server drivers load only in
 * distributed mode (dynamic imports) and carry optional native add-ons of their own.
 * Everything else is bundled: one file parses faster than node resolves hundreds.
 */
const external = ['better-sqlite3', 'kafkajs', 'mongodb', '@eventstore/db-client'];

/** Files that change what esbuild resolves, beyond the modules it reads. */
const serverConfigFiles = [
  'app/build.mjs',
  'app/load.cjs',
  'tsconfig.json',
  'package.json',
  ...['event-schemas', 'platform', 'command-services', 'saga-orchestrator', 'projections', 'read-api'].map((w) => `${w}/package.json`),
];

const frontendSources = () => [...walk(join(frontend, 'src')), ...['index.html', 'vite.config.ts', 'package.json'].map((f) => join(frontend, f))];

const serverMeta = join(dist, 'build-meta.json');
const frontendMeta = join(dist, 'frontend-meta.json');

/** [mtime, size] of a file, or null when it is gone. */
function stamp(file) {
  try {
    const s = statSync(file);
    return [s.mtimeMs, s.size];
  } catch {
    return null;
  }
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

function readMeta(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True when a recorded file is gone or differs from its stamp, or the list itself differs. */
function changed(recorded, files) {
  if (!recorded) return true;
  if (files && (files.length !== Object.keys(recorded).length || files.some((f) => !(relative(root, f) in recorded)))) return true;
  for (const [file, [mtime, size]] of Object.entries(recorded)) {
    const now = stamp(join(root, file));
    if (!now || now[0] !== mtime || now[1] !== size) return true;
  }
  return false;
}

/**
 * Stamps taken after a build, with any file modified after `startedAt` marked unknown, so an
 * edit made while the build ran makes the next check stale instead of being missed.
 */
function stampsOf(files, startedAt) {
  const stamps = {};
  for (const file of files) {
    const s = stamp(file);
    stamps[relative(root, file)] = s && s[0] < startedAt ? s : [-1, -1];
  }
  return stamps;
}

/** A copy without the sources (e.g. the production image) runs what dist/ holds. */
const hasSources = () => existsSync(join(root, entries.main));

export function serverStale() {
  if (!hasSources()) return false;
  const meta = readMeta(serverMeta);
  if (!meta || Object.keys(entries).some((name) => !existsSync(join(dist, `${name}.js`)) || !existsSync(join(dist, `${name}.cjs`)))) return true;
  return changed(meta.inputs);
}

export function frontendStale() {
  if (!existsSync(join(frontend, 'src'))) return false;
  if (!existsSync(join(frontend, 'dist', 'index.html'))) return true;
  return changed(readMeta(frontendMeta)?.inputs, frontendSources());
}

async function buildServer() {
  const startedAt = Date.now();
  const esbuild = await import('esbuild');
  const previous = readMeta(serverMeta);
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, join(root, file)])),
    outdir: dist,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    // CommonJS, one file per entry: node 20 keeps a code cache only for scripts (app/load.cjs),
    // not for ES modules. Dynamic imports stay lazy: their modules are evaluated at the import.
    format: 'cjs',
    platform: 'node',
    target: 'node20.19',
    external: external.flatMap((name) => [name, `${name}/*`]),
    // What the sources read from import.meta, from the bundle's own path (beside its launcher).
    define: { 'import.meta.url': '__import_meta_url', 'import.meta.dirname': '__dirname', 'import.meta.resolve': '__import_meta_resolve' },
    banner: {
      js: [
        "const __import_meta_url = require('node:url').pathToFileURL(__filename).href;",
        "const __import_meta_resolve = (specifier) => require('node:url').pathToFileURL(require.resolve(specifier)).href;",
      ].join('\n'),
    },
    // Maps for `NODE_OPTIONS=--enable-source-maps` when debugging; off by default, it costs ~130 ms a start.
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  // The loader, and each entry's launcher: `node dist/<entry>.js` runs `<entry>.cjs` with its code cache.
  copyFileSync(join(root, 'app', 'load.cjs'), join(dist, 'load.cjs'));
  for (const name of Object.keys(entries)) {
    writeFileSync(join(dist, `${name}.js`), `import { runBundle } from './load.cjs';\n\nrunBundle(new URL('./${name}.cjs', import.meta.url));\n`);
  }
  // A cache made for the previous bundles would be refused by its key; dropped so it is not kept for nothing.
  for (const file of readdirSync(dist)) if (file.endsWith('.v8-cache')) rmSync(join(dist, file), { force: true });
  const written = ['load.cjs', ...Object.keys(entries).map((name) => `${name}.js`)].map((f) => join(dist, f));
  const outputs = [...Object.keys(result.metafile.outputs).map((f) => resolve(root, f)), ...written];
  // Outputs of the previous build that this one did not write (chunks under old hashes).
  for (const old of previous?.outputs ?? []) {
    if (!outputs.includes(join(root, old))) rmSync(join(root, old), { force: true });
  }
  const inputs = [...Object.keys(result.metafile.inputs).map((f) => resolve(root, f)), ...serverConfigFiles.map((f) => join(root, f))];
  writeFileSync(
    serverMeta,
    JSON.stringify({ builtAt: new Date().toISOString(), outputs: outputs.map((f) => relative(root, f)), inputs: stampsOf(inputs, startedAt) }),
  );
}

async function buildFrontend() {
  const startedAt = Date.now();
  const files = frontendSources();
  const { build } = await import('vite');
  // The plugin-timing report is about vite's own speed, not a problem of the app's.
  await build({ root: frontend, configFile: join(frontend, 'vite.config.ts'), logLevel: 'warn', build: { rolldownOptions: { checks: { pluginTimings: false } } } });
  writeFileSync(frontendMeta, JSON.stringify({ builtAt: new Date().toISOString(), inputs: stampsOf(files, startedAt) }));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The lock's owner is dead (same host, no such pid) or never wrote its name within 10 s. */
function abandoned(lock) {
  const owner = readMeta(join(lock, 'owner'));
  if (!owner) return Date.now() - (stamp(lock)?.[0] ?? 0) > 10_000;
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return error.code === 'ESRCH';
  }
}

async function withLock(fn) {
  mkdirSync(dist, { recursive: true });
  const lock = join(dist, '.build.lock');
  const deadline = Date.now() + 10 * 60_000;
  let waiting = false;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    if (abandoned(lock)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${lock} held for 10 minutes; remove it if no build is running`);
    if (!waiting) console.log('waiting for another process to finish building...');
    waiting = true;
    await sleep(100);
  }
  try {
    writeFileSync(join(lock, 'owner'), JSON.stringify({ pid: process.pid, host: hostname() }));
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds whatever is stale (everything with `force`), once across processes. */
export async function build({ force = false } = {}) {
  await withLock(async () => {
    // Checked again under the lock: another process may have built while this one waited.
    if (force || serverStale()) {
      console.log('building the server into dist/ (once; later starts reuse it until sources change)...');
      await buildServer();
    }
    if (force || frontendStale()) {
      console.log('building the frontend into frontend/dist (once; later starts reuse it)...');
      await buildFrontend();
    }
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  build({ force: process.argv.includes('--force') }).catch((error) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  });
}
