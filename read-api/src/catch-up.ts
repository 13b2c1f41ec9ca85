import type { ProjectionChange } from '@saga/projections/projectors/runner';

/** Waits, up to `waitMs`, for a read model to show something; `null` when it still does not. */
export type Eventually = <T>(read: () => Promise<T | null>, waitMs: number) => Promise<T | null>;

/**
 * Read models trail the log by the projectors' lag. A reader that knows what it waits for
 * (an event's revision, an order just placed) re-reads until the read model shows it: woken
 * at once by the change notifications of the projectors in this process, and every 50 ms
 * otherwise (projectors in other processes notify nobody here).
 */
export function catchUp(onProjectionChange?: (listener: (change: ProjectionChange) => void) => () => void): Eventually {
  const wakers = new Set<() => void>();
  onProjectionChange?.(() => {
    for (const wake of [...wakers]) wake();
  });
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
    });
  return async (read, waitMs) => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const value = await read();
      if (value !== null || Date.now() >= deadline) return value;
      await nap(Math.min(50, Math.max(1, deadline - Date.now())));
    }
  };
}
