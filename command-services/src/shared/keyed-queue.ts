/**
 * Runs tasks one after another per key and concurrently across keys. The inventory uses it
 * per stream (so in-process reservations never conflict with each other), payment per order
 * (so a slow gateway call for one order never holds another order's commands back).
 */
export interface KeyedQueue {
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
  /** Resolves once every task queued so far has settled. */
  drain(): Promise<void>;
}

export function createKeyedQueue(): KeyedQueue {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run<T>(key: string, task: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      const result = previous.then(task, task);
      const tail = result.then(
        () => undefined,
        () => undefined,
      );
      tails.set(key, tail);
      // Forget the key once its last task is done, so the map does not grow with every order.
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    async drain() {
      while (tails.size > 0) await Promise.all([...tails.values()]);
    },
  };
}
