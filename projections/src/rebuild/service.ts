import { ConflictError, NotFoundError } from '@saga/platform/errors';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import type { AnyProjection } from '../projectors/projection';
import { rebuildProjection, type LiveProjector, type RebuildOptions, type RebuildProgress } from './rebuild';

/**
 * Runs rebuilds in the background for the API (one per projection at a time) and keeps the
 * latest progress of each, for `GET /api/projections` and the live stream.
 */
export interface RebuildService {
  /** Starts a rebuild and returns its first progress; 404 for an unknown name, 409 if one is running. */
  start(name: string): RebuildProgress;
  progress(name: string): RebuildProgress | null;
  onProgress(listener: (progress: RebuildProgress) => void): () => void;
  /** Resolves when the rebuild of `name` (if any) has finished, successfully or not. */
  settled(name: string): Promise<void>;
}

export interface RebuildServiceDeps {
  eventStore: EventStore;
  documentStore: DocumentStore;
  projections: readonly AnyProjection[];
  /** The live runner of a projection in this process, paused across the swap. */
  liveOf?: (name: string) => LiveProjector | undefined;
  options?: Omit<RebuildOptions, 'onProgress'>;
  /** Minimum time between two progress reports of one rebuild (phase changes always go out). */
  reportEveryMs?: number;
  onError?: (error: unknown, projection: string) => void;
}

export function createRebuildService(deps: RebuildServiceDeps): RebuildService {
  const latest = new Map<string, RebuildProgress>();
  const running = new Map<string, Promise<void>>();
  const listeners = new Set<(progress: RebuildProgress) => void>();
  const every = deps.reportEveryMs ?? 250;

  return {
    start(name) {
      const projection = deps.projections.find((p) => p.name === name);
      if (!projection) throw new NotFoundError(`no projection named ${name}`);
      if (running.has(name)) throw new ConflictError(`projection ${name} is already being rebuilt`);
      const first: RebuildProgress = {
        projection: name,
        phase: 'starting',
        eventsDone: 0,
        total: null,
        rate: 0,
        etaSeconds: null,
        position: null,
        startedAt: new Date().toISOString(),
        finishedAt: null,
        verification: null,
        error: null,
      };
      latest.set(name, first);
      let lastSent = 0;
      let lastPhase = first.phase;
      const publish = (p: RebuildProgress) => {
        latest.set(name, p);
        const t = Date.now();
        if (p.phase === lastPhase && t - lastSent < every) return;
        lastSent = t;
        lastPhase = p.phase;
        for (const listener of listeners) listener(p);
      };
      const live = deps.liveOf?.(name);
      const run = rebuildProjection(
        { eventStore: deps.eventStore, documentStore: deps.documentStore, ...(live ? { live } : {}) },
        projection,
        { ...deps.options, onProgress: publish },
      ).then(
        () => undefined,
        (error: unknown) => deps.onError?.(error, name),
      );
      const settled = run.finally(() => running.delete(name));
      running.set(name, settled);
      return first;
    },
    progress: (name) => latest.get(name) ?? null,
    onProgress(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    settled: async (name) => {
      await running.get(name);
    },
  };
}
