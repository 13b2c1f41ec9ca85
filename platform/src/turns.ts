/**
 * Turns of the event loop for background loops: the bus's partition workers, the log
 * followers (relay, saga dispatcher), anything that works through a backlog in slices.
 *
 * SQLite is synchronous, so a slice of such a loop (fetch, handle, commit) settles in one
 * microtask chain. A loop that only yielded with `setImmediate` still shared the event loop
 * badly when many ran at once: every immediate queued before the check phase runs in that one
 * phase, so a request waited for one slice of every loop (a million-event log re-published to
 * 48 partition workers: /healthz p50 82 ms, p99 430 ms). Here each `await backgroundTurn()`
 * resolves in a loop iteration of its own, in the order asked: the poll phase (requests, I/O,
 * the syncs' answers) and the timers run between any two slices, whatever their number.
 * An idle loop hands a turn out at once (one iteration, a few microseconds).
 *
 * Only loops working through a backlog ask: a partition worker with more to read after a
 * batch, a follower that has run for a slice. A worker woken by a publish handles what it
 * brought at once, so the live path gains no iteration per hop (measured with bench:saga: the
 * wake-ups queued here too cost 15% of the throughput, more syncs of smaller groups).
 */
const waiting: (() => void)[] = [];
let head = 0;
let scheduled = false;

function handOut(): void {
  const next = waiting[head];
  waiting[head++] = undefined as unknown as () => void;
  if (head === waiting.length) {
    waiting.length = 0;
    head = 0;
    scheduled = false;
  } else {
    // Queued from inside the check phase: it runs in the next iteration, after its poll phase.
    setImmediate(handOut);
  }
  next?.();
}

/** Resolves in an event-loop iteration of its own, once the loops that asked before have had theirs. */
export function backgroundTurn(): Promise<void> {
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    if (!scheduled) {
      scheduled = true;
      setImmediate(handOut);
    }
  });
}
