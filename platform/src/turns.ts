/**
 * Turns of the event loop for background loops: the bus's partition workers, the log
 * followers (relay, saga dispatcher), the projectors' writes, anything that works through a
 * backlog in slices.
 *
 * SQLite is synchronous, so a slice of such a loop (fetch, handle, commit) settles in one
 * microtask chain. A loop that only yielded with `setImmediate` still shared the event loop
 * badly when many ran at once: every immediate queued before the check phase runs in that one
 * phase, so a request waited for one slice of every loop (a million-event log re-published to
 * 48 partition workers: /healthz p50 82 ms, p99 430 ms). Here the loops that ask wait in one
 * queue, in order, and an iteration of the event loop hands out slices for BUDGET_MS at most:
 * a turn asked for while the budget lasts is given at once, one asked for after it waits for
 * the next iteration, after its poll phase (requests, I/O, the syncs' answers) and timers. So
 * slices longer than the budget get an iteration each, and short ones (a live hop of a few
 * messages) share one and cost no extra iteration. An idle loop hands a turn out at once.
 *
 * A partition worker asks after every batch and on every wake-up (the woken workers of a
 * publish used to run their batches all at once, inside the publisher's turn).
 */
const waiting: (() => void)[] = [];
let head = 0;
let scheduled = false;
/**
 * Slices handed out in one iteration may run for this long in all: a turn asked for before it
 * is up is given at once (in order), one asked for after it waits for the next iteration.
 */
const BUDGET_MS = 4;
let budgetEnds = 0;

function takeHead(): (() => void) | undefined {
  const next = waiting[head];
  waiting[head++] = undefined as unknown as () => void;
  if (head === waiting.length) {
    waiting.length = 0;
    head = 0;
  }
  return next;
}

function handOut(): void {
  scheduled = false;
  budgetEnds = performance.now() + BUDGET_MS;
  const next = takeHead();
  // The others (and those that ask once this iteration's budget is spent) get the next iteration,
  // after its poll phase: queued from inside the check phase, an immediate runs in the next one.
  if (waiting.length > 0) schedule();
  next?.();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(handOut);
}

/**
 * For a loop that runs on without waiting (a catch-up, a follower): the returned function takes a
 * background turn once the loop has run `sliceMs` since its last one, else resolves at once.
 */
export function turnEvery(sliceMs: number): () => Promise<void> {
  let sliceStart = performance.now();
  return async () => {
    if (performance.now() - sliceStart < sliceMs) return;
    await backgroundTurn();
    sliceStart = performance.now();
  };
}

/** Resolves once the loops that asked before have had their turns: within this iteration's budget, else in the next iteration. */
export function backgroundTurn(): Promise<void> {
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    // Within the budget of the iteration under way: the next in line goes on at once.
    if (performance.now() < budgetEnds) {
      const next = takeHead();
      if (waiting.length > 0) schedule();
      next?.();
    } else schedule();
  });
}
