import { Worker } from 'node:worker_threads';

/**
 * Starts the rebuild worker (projections/src/rebuild/worker.ts) with the given data. Bundled
 * (dist/), it is dist/rebuild-worker.js beside the bundle this code is in; run from sources
 * (tsx, tests), it is the TypeScript file, loaded through tsx's loader registered in the
 * worker (node 20 does not pass `--import` hooks to worker threads).
 */
export function spawnRebuildWorker(workerData: unknown): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./rebuild-worker.js', here), { workerData });
  const entry = new URL('./worker.ts', here).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
