/**
 * The rebuild worker thread (bundled as dist/rebuild-worker.js). It opens its own event store
 * reader and document store and runs the rebuild there, so the process's event loop (queries,
 * /healthz, bus consumers, saga timers) never waits for it; progress goes to the parent as
 * messages, and the hand-over of the live projector is asked of the parent, which holds it.
 *
 * Started as a `writer`, it is the rebuild's second thread: it applies the shadow's writes
 * while the rebuild thread goes on reading and folding the log.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DocumentStore, WriteOp } from '@saga/platform/document-store/port';
import { projectionNamed } from '../projectors/registry';
import { rebuildProjection, shadowNameOf, type Handover, type LiveProjector, type RebuildProgress, type ShadowWriter } from './rebuild';
import { spawnRebuildWorker } from './spawn';
import { openDocumentStoreAt, openEventStoreAt } from './stores';
import type { FromWorker, ToWorker, WorkerTask, WriterReply, WriterRequest } from './worker-protocol';

const port = parentPort!;
const task = workerData as WorkerTask;
const projection = projectionNamed(task.projection);
if (!projection) throw new Error(`no projection named ${task.projection}`);

// A rejection is left unhandled on purpose: it ends the thread with an 'error' the parent reports.
void (task.role === 'writer' ? serveWrites() : rebuild());

async function serveWrites(): Promise<void> {
  const store = await openDocumentStoreAt(task.at);
  await store.collection({ ...projection!.collection, name: shadowNameOf(projection!), deferIndexes: true });
  // One write at a time, in the order sent: a document's writes carry consecutive versions.
  let chain: Promise<unknown> = Promise.resolve();
  port.on('message', (m: WriterRequest) => {
    if (m.type === 'close') {
      chain = chain.then(() => store.close()).then(() => port.close());
      return;
    }
    chain = chain.then(async () => {
      let reply: WriterReply;
      try {
        const { conflicts } = await store.write(m.ops, m.checkpoints);
        reply = conflicts.length > 0 ? { id: m.id, error: `another writer changed the shadow (${conflicts[0]!.id})` } : { id: m.id };
      } catch (error) {
        reply = { id: m.id, error: error instanceof Error ? error.message : String(error) };
      }
      port.postMessage(reply);
    });
  });
}

/** The writer thread as the rebuild's shadow writer: a few writes in flight, errors raised at the next call. */
function startWriter(): ShadowWriter & { close(): Promise<void> } {
  const worker = spawnRebuildWorker({ ...task, role: 'writer' } satisfies WorkerTask);
  const inFlight = new Map<number, { landed: Promise<void>; done: () => void }>();
  let failure: Error | undefined;
  let next = 0;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const settle = (id: number) => {
    inFlight.get(id)?.done();
    inFlight.delete(id);
  };
  worker.on('message', (reply: WriterReply) => {
    if (reply.error) failure ??= new Error(reply.error);
    settle(reply.id);
  });
  worker.on('error', (error) => {
    failure ??= error;
    for (const id of [...inFlight.keys()]) settle(id);
  });
  const check = () => {
    if (failure) throw failure;
  };
  const drain = async () => {
    await Promise.all([...inFlight.values()].map((w) => w.landed));
    check();
  };
  return {
    async write(ops: WriteOp[], checkpoints: Record<string, string>) {
      check();
      // Backpressure: the folding thread stays at most a few writes ahead of the writer.
      while (inFlight.size >= 4) await Promise.race([...inFlight.values()].map((w) => w.landed));
      check();
      const id = next++;
      let done: () => void = () => undefined;
      const landed = new Promise<void>((resolve) => (done = resolve));
      inFlight.set(id, { landed, done });
      worker.postMessage({ type: 'write', id, ops, checkpoints } satisfies WriterRequest);
      return { landed };
    },
    drain,
    async close() {
      await drain().catch(() => undefined);
      worker.postMessage({ type: 'close' } satisfies WriterRequest);
      await exited;
    },
  };
}

async function rebuild(): Promise<void> {
  const post = (message: FromWorker) => port.postMessage(message);
  let outcome: FromWorker;
  let writer: ReturnType<typeof startWriter> | undefined;
  const eventStore = await openEventStoreAt(task.at);
  let documentStore: DocumentStore | undefined;
  try {
    documentStore = await openDocumentStoreAt(task.at);
    const live = task.live ? liveThroughParent() : undefined;
    const result = await rebuildProjection({ eventStore, documentStore, ...(live ? { live } : {}) }, projection!, {
      ...task.options,
      // Started at the first write: the writer opens the shadow the rebuild has just created.
      ...(task.pipelined ? { writer: lazyWriter(() => (writer ??= startWriter())) } : {}),
      onProgress: (progress: RebuildProgress) => post({ type: 'progress', progress }),
    });
    outcome = { type: 'done', progress: result };
  } catch (error) {
    outcome = { type: 'failed', error: error instanceof Error ? error.message : String(error) };
  }
  // Everything closed before the answer: the parent may end the thread once it has it.
  await writer?.close().catch(() => undefined);
  await documentStore?.close().catch(() => undefined);
  await eventStore.close().catch(() => undefined);
  post(outcome);
}

/** Starts the writer thread on the first write, once the rebuild has created the shadow. */
function lazyWriter(get: () => ShadowWriter): ShadowWriter {
  let started: ShadowWriter | undefined;
  return {
    write: (ops, checkpoints) => (started ??= get()).write(ops, checkpoints),
    drain: async () => started?.drain(),
  };
}

/** The live projector, which the parent holds: each call a request answered once done. */
function liveThroughParent(): LiveProjector {
  let next = 0;
  const ask = (type: 'live-stop' | 'live-start', onHandover?: (handover: Handover) => void) =>
    new Promise<void>((resolve, reject) => {
      const id = next++;
      const listener = (m: ToWorker) => {
        if (m.id !== id) return;
        if (m.type === 'handover') return onHandover?.(m.handover);
        port.off('message', listener);
        if (m.error) reject(new Error(m.error));
        else resolve();
      };
      port.on('message', listener);
      port.postMessage({ type, id } satisfies FromWorker);
    });
  return { stop: (onHandover) => ask('live-stop', onHandover), start: (onHandover) => ask('live-start', onHandover) };
}
