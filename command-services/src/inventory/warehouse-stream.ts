import type { NewEvent } from '@saga/event-schemas/envelope';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { WrongExpectedRevisionError } from '@saga/platform/event-store/port';
import { turnEvery } from '@saga/platform/turns';
import { expectedRevisionOf, foldRecorded, type Aggregate, type CommandOutcome } from '../shared/command-handler';
import { ignore, isEvents } from '../shared/decision';
import { toNewEvents } from '../shared/new-events';
import type { Clock, Logger, Sleep } from '../shared/runtime';
import { decide, type InventoryCommand } from './decide';
import type { WarehouseSnapshots } from './warehouse-snapshots';
import { draftOf, evolveInPlace, initialState, type InventoryEvent, type InventoryState } from './state';

export interface Causing {
  commandId: string;
  correlationId: string;
  userId?: string;
}

export interface WarehouseStream {
  execute(command: InventoryCommand, causing: Causing): Promise<CommandOutcome<InventoryEvent>>;
  /** The state caught up with the store (another process may have appended). */
  read(): Promise<InventoryState>;
  /** The state as this process last read or wrote it, without asking the store: it may lag another process's appends. */
  held(): InventoryState;
}

export interface WarehouseStreamOptions {
  store: EventStore;
  clock: Clock;
  logger: Logger;
  sleep: Sleep;
  maxAttempts: number;
  /** Commands decided together and appended in one write. */
  maxBatch?: number;
  /** Where the folded stream is saved now and then, so a start reads only what came after (warehouse-snapshots.ts). */
  snapshots?: Promise<WarehouseSnapshots>;
  /** Events appended by this process between two snapshots. */
  snapshotEvery?: number;
  /** Events read and folded at a time when catching up. Default 1,000 (a few milliseconds each). */
  catchUpPage?: number;
}

/** Longest a catch-up folds before it gives the event loop a turn. */
const SLICE_MS = 8;

type Waiting =
  | { kind: 'command'; command: InventoryCommand; causing: Causing; resolve: (o: CommandOutcome<InventoryEvent>) => void; reject: (e: unknown) => void }
  | { kind: 'read'; resolve: (s: InventoryState) => void; reject: (e: unknown) => void };

/**
 * The one `inventory-warehouse` stream, kept folded in memory. Every reservation hits it, so:
 * - only the events after the cached revision are read before deciding (another process
 *   may have appended); our own appended events are folded from memory;
 * - commands run one batch at a time in this process, so in-process callers never conflict;
 * - the commands waiting when a batch starts are decided one after another on the evolving
 *   state and appended in one write (group commit): all-or-none per order still holds,
 *   since each decision sees the effect of the ones before it;
 * - a conflict with another process re-reads, re-decides the batch and retries (bounded).
 */
export function openWarehouseStream(options: WarehouseStreamOptions): WarehouseStream {
  const { store, clock, logger, sleep, maxAttempts } = options;
  const maxBatch = options.maxBatch ?? 256;
  const catchUpPage = options.catchUpPage ?? 1_000;
  const streamId = streamIdFor.inventory();
  let cache: Aggregate<InventoryState> = { state: initialState, revision: -1, handledCommands: new Set() };
  const waiting: Waiting[] = [];
  let pumping = false;

  const snapshotEvery = options.snapshotEvery ?? 5_000;
  // Awaited where used; a failure to open them must not be an unhandled rejection meanwhile.
  options.snapshots?.catch(() => undefined);
  let snapshotTried = false;
  let snapshotRevision = -1;
  let saving: Promise<void> | null = null;

  async function fromSnapshot(): Promise<void> {
    snapshotTried = true;
    const snapshots = await options.snapshots!;
    const loaded = await snapshots.load();
    if (!loaded) return;
    // A snapshot ahead of the stream belongs to another event store (a reset one): the events are the truth.
    const head = await store.streamRevision(streamId);
    if (loaded.revision > head) {
      logger('warn', 'warehouse snapshot is ahead of its stream; ignored', { snapshot: loaded.revision, stream: head });
      return;
    }
    if (cache.revision === -1) cache = loaded;
    snapshotRevision = loaded.revision;
  }

  async function catchUp(): Promise<void> {
    if (options.snapshots && !snapshotTried && cache.revision === -1) {
      await fromSnapshot().catch((error: unknown) =>
        logger('warn', 'warehouse snapshot could not be read; folding the stream from the start', { error: error instanceof Error ? error.message : String(error) }),
      );
    }
    // In pages, with a turn of the event loop between slices: a start with no snapshot (a log
    // imported, the read models' file deleted) folds the whole stream, and 200,000 events read
    // and folded at once held every request back 1.5 s.
    let folded = 0;
    const turnIfDue = turnEvery(SLICE_MS);
    for (;;) {
      const events = await store.readStream(streamId, { fromRevision: cache.revision + 1, limit: catchUpPage });
      if (events.length === 0) break;
      // Into a copy made once per page (the cached state may be held by a reader).
      cache = foldRecorded(events, evolveInPlace, { ...cache, state: draftOf(cache.state) });
      folded += events.length;
      if (events.length < catchUpPage) break;
      await turnIfDue();
    }
    // A long fold (a first start on a long stream) is worth saving too, not only our own appends.
    if (folded > 0) maybeSnapshot();
  }

  /** In the background: commands never wait for a snapshot, and a failed one only costs a longer next start. */
  function maybeSnapshot(): void {
    if (!options.snapshots || saving || cache.revision - snapshotRevision < snapshotEvery) return;
    const revision = cache.revision;
    saving = options.snapshots
      .then((snapshots) => snapshots.save(cache))
      .then(() => void (snapshotRevision = revision))
      .catch((error: unknown) => logger('warn', 'warehouse snapshot failed', { revision, error: error instanceof Error ? error.message : String(error) }))
      .finally(() => {
        saving = null;
        // Appends made while it was written may have crossed the next threshold.
        maybeSnapshot();
      });
  }

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (waiting.length > 0) await runBatch(waiting.splice(0, maxBatch));
    } finally {
      pumping = false;
    }
  }

  async function runBatch(batch: Waiting[]): Promise<void> {
    try {
      await appendBatch(batch);
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      // One bad command must not fail the others: run each on its own to find which one it was.
      logger('warn', 'inventory batch failed, retrying its commands one by one', { error: error instanceof Error ? error.message : String(error) });
      for (const one of batch) await runBatch([one]);
    }
  }

  async function appendBatch(batch: Waiting[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await catchUp();
      // A copy this batch folds its decisions into; the cache keeps the state as of its revision until the append lands.
      const state = draftOf(cache.state);
      const handled = new Set<string>();
      const outcomes: CommandOutcome<InventoryEvent>[] = [];
      const events: NewEvent[] = [];
      const occurredAt = clock().toISOString();
      for (const item of batch) {
        if (item.kind === 'read') {
          outcomes.push(ignore('Read'));
          continue;
        }
        const id = item.causing.commandId;
        if (cache.handledCommands.has(id) || handled.has(id)) {
          outcomes.push(ignore('AlreadyHandled'));
          continue;
        }
        const decision = decide(item.command, state, {});
        if (!isEvents(decision) || decision.length === 0) {
          outcomes.push(isEvents(decision) ? ignore('NothingToDo') : decision);
          continue;
        }
        for (const event of decision) evolveInPlace(state, event);
        events.push(...toNewEvents(decision, { ...item.causing, occurredAt }));
        handled.add(id);
        outcomes.push({ kind: 'appended', events: decision, revision: cache.revision + events.length });
      }
      if (events.length > 0) {
        try {
          const result = await store.append(streamId, events, { expectedRevision: expectedRevisionOf(cache.revision) });
          for (const id of handled) cache.handledCommands.add(id);
          cache = { state, revision: result.nextExpectedRevision, handledCommands: cache.handledCommands };
          maybeSnapshot();
        } catch (error) {
          if (!(error instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw error;
          // Another process appended first: back off a little (jittered so racers spread out), then decide again.
          logger('debug', 'inventory append conflict, retrying', { attempt, commands: batch.length });
          await sleep(Math.random() * Math.min(2 * attempt, 20));
          continue;
        }
      }
      batch.forEach((item, i) => (item.kind === 'read' ? item.resolve(cache.state) : item.resolve(outcomes[i]!)));
      return;
    }
  }

  return {
    execute(command, causing) {
      return new Promise((resolve, reject) => {
        waiting.push({ kind: 'command', command, causing, resolve, reject });
        void pump();
      });
    },
    read() {
      return new Promise((resolve, reject) => {
        waiting.push({ kind: 'read', resolve, reject });
        void pump();
      });
    },
    held: () => cache.state,
  };
}
