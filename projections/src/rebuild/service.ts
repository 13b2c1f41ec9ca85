import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConflictError, NotFoundError } from '@saga/platform/errors';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import type { MessageBus } from '@saga/platform/message-bus/port';
import type { AnyProjection } from '../projectors/projection';
import { busHandover } from './control';
import { rebuildInWorker } from './in-worker';
import { acquireLease, currentLease, type HeldLease } from './lease';
import { rebuildProjection, type LiveProjector, type RebuildOptions, type RebuildProgress } from './rebuild';
import type { StoreLocation } from './stores';

/**
 * Runs rebuilds in the background for the API and keeps the latest progress of each, for
 * `GET /api/projections` and the live stream. One rebuild of a projection at a time across
 * every gateway (a lease in the document store); with a store location, each runs in a
 * worker thread, so this process keeps answering while it reads the whole log.
 */
export interface RebuildService {
  /** Starts a rebuild and returns its first progress; 404 for an unknown name, 409 if one is running (here or on another gateway). */
  start(name: string): Promise<RebuildProgress>;
  /** The latest progress of a rebuild run here, or else of one another gateway runs now. */
  progress(name: string): Promise<RebuildProgress | null>;
  onProgress(listener: (progress: RebuildProgress) => void): () => void;
  /** Resolves when the rebuild of `name` (if any) has finished, successfully or not. */
  settled(name: string): Promise<void>;
}

export interface RebuildServiceDeps {
  eventStore: EventStore;
  documentStore: DocumentStore;
  projections: readonly AnyProjection[];
  /**
   * The bus the projector replicas listen on for the hand-over: with it, every replica of the
   * projection in every process is paused across the swap (and `liveOf` is not needed).
   */
  bus?: MessageBus;
  /** The live runner of a projection in this process, paused across the swap (without a bus). */
  liveOf?: (name: string) => LiveProjector | undefined;
  /** Where a worker thread opens the stores: with it, rebuilds run off this thread. */
  worker?: { at: StoreLocation; pipelined?: boolean };
  /** This gateway's name on the rebuild lease. */
  holder?: string;
  options?: Omit<RebuildOptions, 'onProgress' | 'writer'>;
  /** Minimum time between two progress reports of one rebuild (phase changes always go out). */
  reportEveryMs?: number;
  onError?: (error: unknown, projection: string) => void;
}

/** How often the lease carries the progress to the other gateways. */
const SHARE_EVERY_MS = 1_000;

export function createRebuildService(deps: RebuildServiceDeps): RebuildService {
  const latest = new Map<string, RebuildProgress>();
  const running = new Map<string, Promise<void>>();
  const listeners = new Set<(progress: RebuildProgress) => void>();
  const every = deps.reportEveryMs ?? 250;
  const holder = deps.holder ?? `${hostname()}:${process.pid}`;

  const liveFor = (projection: AnyProjection, lease: HeldLease): LiveProjector | undefined =>
    deps.bus ? busHandover({ bus: deps.bus, store: deps.documentStore, projection: projection.name, lease }) : deps.liveOf?.(projection.name);

  const run = (projection: AnyProjection, live: LiveProjector | undefined, onProgress: (p: RebuildProgress) => void) =>
    deps.worker
      ? rebuildInWorker(projection, { at: deps.worker.at, ...(deps.worker.pipelined === undefined ? {} : { pipelined: deps.worker.pipelined }), ...(live ? { live } : {}), ...(deps.options ? { options: deps.options } : {}), onProgress })
      : rebuildProjection({ eventStore: deps.eventStore, documentStore: deps.documentStore, ...(live ? { live } : {}) }, projection, { ...deps.options, onProgress });

  return {
    async start(name) {
      const projection = deps.projections.find((p) => p.name === name);
      if (!projection) throw new NotFoundError(`no projection named ${name}`);
      if (running.has(name)) throw new ConflictError(`projection ${name} is already being rebuilt`);
      // Held from here until the end; a second start (here or on another gateway) is a 409.
      const settle = { done: () => undefined as void };
      running.set(name, new Promise<void>((resolve) => (settle.done = resolve)));
      let lease: HeldLease;
      try {
        lease = await acquireLease(deps.documentStore, { projection: name, holder, rebuildId: randomUUID() });
      } catch (error) {
        running.delete(name);
        settle.done();
        throw error;
      }
      const first: RebuildProgress = {
        projection: name,
        phase: 'starting',
        eventsDone: 0,
        counting: 'log',
        total: null,
        rate: 0,
        etaSeconds: null,
        position: null,
        startedAt: new Date().toISOString(),
        finishedAt: null,
        verification: null,
        handover: null,
        error: null,
      };
      latest.set(name, first);
      let lastSent = 0;
      let lastShared = 0;
      let lastPhase = first.phase;
      let lastHandover: RebuildProgress['handover'] = null;
      const publish = (p: RebuildProgress) => {
        latest.set(name, p);
        const t = Date.now();
        const phaseChanged = p.phase !== lastPhase;
        if (phaseChanged || t - lastShared >= SHARE_EVERY_MS) {
          lastShared = t;
          void lease.update({ progress: p }).catch(() => undefined);
        }
        // Each step of the hand-over goes out too: it is short, and it is what an operator waits on.
        if (!phaseChanged && t - lastSent < every && JSON.stringify(p.handover) === JSON.stringify(lastHandover)) return;
        lastHandover = p.handover;
        lastSent = t;
        lastPhase = p.phase;
        for (const listener of listeners) listener(p);
      };
      void run(projection, liveFor(projection, lease), publish)
        .then(
          (final) => {
            // The last word always goes out, whatever the throttle dropped before it.
            latest.set(name, final);
            for (const listener of listeners) listener(final);
          },
          (error: unknown) => {
            const last = latest.get(name) ?? first;
            if (last.phase !== 'failed') {
              const failed: RebuildProgress = { ...last, phase: 'failed', error: error instanceof Error ? error.message : String(error), finishedAt: new Date().toISOString() };
              latest.set(name, failed);
              for (const listener of listeners) listener(failed);
            }
            deps.onError?.(error, name);
          },
        )
        .finally(async () => {
          await lease.release().catch((error: unknown) => deps.onError?.(error, name));
          running.delete(name);
          settle.done();
        });
      return first;
    },
    async progress(name) {
      const here = latest.get(name) ?? null;
      if (running.has(name)) return here;
      const elsewhere = (await currentLease(deps.documentStore, name))?.progress ?? null;
      return elsewhere && (!here || elsewhere.startedAt > here.startedAt) ? elsewhere : here;
    },
    onProgress(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    settled: async (name) => {
      await running.get(name);
    },
  };
}
