import type { AnyProjection } from '../projectors/projection';
import type { LiveProjector, RebuildOptions, RebuildProgress } from './rebuild';
import { spawnRebuildWorker } from './spawn';
import type { StoreLocation } from './stores';
import type { FromWorker, ToWorker, WorkerTask } from './worker-protocol';

export interface WorkerRebuild {
  at: StoreLocation;
  live?: LiveProjector;
  options?: Omit<RebuildOptions, 'onProgress' | 'writer'>;
  /** A second thread writes the shadow while the first reads and folds (default true). */
  pipelined?: boolean;
  onProgress?: (progress: RebuildProgress) => void;
}

/**
 * Rebuilds a projection in a worker thread and resolves with its last progress, as
 * `rebuildProjection` does in this thread; the live projector stays here and is paused and
 * resumed when the worker asks.
 */
export function rebuildInWorker(projection: AnyProjection, run: WorkerRebuild): Promise<RebuildProgress> {
  const task: WorkerTask = {
    role: 'rebuild',
    at: run.at,
    projection: projection.name,
    options: run.options ?? {},
    live: run.live !== undefined,
    pipelined: run.pipelined ?? true,
  };
  const worker = spawnRebuildWorker(task);
  return new Promise<RebuildProgress>((resolve, reject) => {
    let outcome: { ok: true; progress: RebuildProgress } | { ok: false; error: Error } | undefined;
    const answer = (message: ToWorker) => worker.postMessage(message);
    worker.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'progress':
          run.onProgress?.(m.progress);
          return;
        case 'done':
          outcome = { ok: true, progress: m.progress };
          return;
        case 'failed':
          outcome = { ok: false, error: new Error(m.error) };
          return;
        case 'live-stop':
        case 'live-start': {
          const live = run.live!;
          const call = m.type === 'live-stop' ? live.stop.bind(live) : live.start.bind(live);
          call((handover) => answer({ type: 'handover', id: m.id, handover })).then(
            () => answer({ type: 'answer', id: m.id }),
            (error: unknown) => answer({ type: 'answer', id: m.id, error: error instanceof Error ? error.message : String(error) }),
          );
          return;
        }
      }
    });
    worker.on('error', (error) => (outcome ??= { ok: false, error }));
    worker.on('exit', (code) => {
      if (!outcome) reject(new Error(`the rebuild worker of ${projection.name} exited (code ${code}) without an outcome`));
      else if (outcome.ok) resolve(outcome.progress);
      else reject(outcome.error);
    });
  });
}
