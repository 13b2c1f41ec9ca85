'use strict';
/**
 * Runs a bundle of dist/ (CommonJS) with V8's code cache, so a start does not parse and
 * compile the same 4 MB of JavaScript every time: compiling it is about a third of what a
 * start costs before the services open anything (measured: main() reached 130 ms sooner).
 *
 * Node 22 does this itself (`module.enableCompileCache()`); Node 20, which this project
 * supports, has only `vm.Script`'s `cachedData`, which is what this uses. The cache lives
 * beside the bundle (`<bundle>.v8-cache`), keyed by the bundle's size and mtime and by the
 * node build: a rebuilt bundle or another node never gets a cache made for something else
 * (V8's own check compares only the source's length). The first run of a bundle writes it
 * once the start is done (a second after the bundle began to run, or at exit if sooner), so
 * it holds the functions a start compiles, not only the top level. A read-only dist/ (an
 * image run as another user) just runs without one.
 *
 * Copied into dist/ by app/build.mjs, which writes each entry's launcher
 * (`dist/<entry>.js`: `runBundle(<entry>.cjs)`).
 */
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

/** How long after the bundle starts running its code cache is made. */
const CACHE_AFTER_MS = 1_000;

function cacheKey(stat) {
  return `${process.version} ${process.arch} ${process.config.variables.node_module_version} ${stat.size} ${stat.mtimeMs}`;
}

function readCache(cacheFile, key) {
  try {
    const data = fs.readFileSync(cacheFile);
    const newline = data.indexOf(10);
    return newline > 0 && data.subarray(0, newline).toString() === key ? data.subarray(newline + 1) : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(cacheFile, key, script) {
  const tmp = `${cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}\n`), script.createCachedData()]));
    // Atomic: processes started at once each write a whole cache, and the last rename wins.
    fs.renameSync(tmp, cacheFile);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** Runs `file` (a path or file: URL of a CommonJS bundle) as the main module would run. */
exports.runBundle = function runBundle(file) {
  const filename = file instanceof URL ? require('node:url').fileURLToPath(file) : file;
  // Source maps (NODE_OPTIONS=--enable-source-maps) are applied by node's loader, not to vm scripts.
  if (process.sourceMapsEnabled) {
    require(filename);
    return;
  }
  const source = fs.readFileSync(filename, 'utf8');
  const key = cacheKey(fs.statSync(filename));
  const cacheFile = `${filename}.v8-cache`;
  const cachedData = readCache(cacheFile, key);
  const script = new vm.Script(Module.wrap(source), {
    filename,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (!cachedData || script.cachedDataRejected) {
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      writeCache(cacheFile, key, script);
    };
    setTimeout(write, CACHE_AFTER_MS).unref();
    process.once('exit', write);
  }
  const dirname = path.dirname(filename);
  const bundle = new Module(filename, module);
  bundle.filename = filename;
  bundle.paths = Module._nodeModulePaths(dirname);
  script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(filename), bundle, filename, dirname);
  bundle.loaded = true;
};
