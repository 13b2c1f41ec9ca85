import type { RecordedEvent } from '@saga/event-schemas/envelope';
import type { EventSubscription } from './port';

/**
 * Wakes waiting subscriptions when the log may have grown: at once for appends made through
 * this process, and by a cheap poll (a callback comparing a version number) for appends made
 * by another process on the same file. The poll runs only while someone waits.
 */
export class Wakeup {
  private waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly changedElsewhere: () => boolean,
    private readonly pollMs: number,
  ) {}

  /** Resolves on the next notify, detected outside change, or `cancel()` of the returned handle. */
  wait(): { promise: Promise<void>; cancel(): void } {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    const waiter = () => {
      this.waiters.delete(waiter);
      resolve();
    };
    this.waiters.add(waiter);
    this.timer ??= setInterval(() => this.poll(), this.pollMs);
    return { promise, cancel: waiter };
  }

  notify(): void {
    if (this.waiters.size === 0) return;
    for (const waiter of [...this.waiters]) waiter();
    this.stopIfIdle();
  }

  stop(): void {
    for (const waiter of [...this.waiters]) waiter();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private poll(): void {
    if (this.changedElsewhere()) this.notify();
    this.stopIfIdle();
  }

  private stopIfIdle(): void {
    if (this.waiters.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

export interface Page {
  events: RecordedEvent[];
  /** Where the next read starts (exclusive). Can move past the last event when a filter skipped the rest. */
  cursor: number;
  /** The read reached the head of the log as it was when read. */
  atHead: boolean;
}

export interface PagedSubscription extends EventSubscription {
  /** Events read from the store but not yet handed to the consumer: never more than one page. */
  readonly buffered: number;
}

/**
 * Catch-up and live are the same loop: read the page after the cursor, hand it out one event
 * at a time, and only when it is used up read the next; when a read comes back empty, wait for
 * a wake-up. There is no switch-over, so there is no gap or duplicate to get wrong, and no
 * more than one page is ever held for a slow consumer.
 */
export function pagedSubscription(
  readPage: (cursor: number) => Page,
  start: number,
  wakeup: Wakeup,
  onCaughtUp: (() => void) | undefined,
  onClose: () => void,
): PagedSubscription {
  let cursor = start;
  let page: RecordedEvent[] = [];
  let index = 0;
  let reachedHead = false;
  let caughtUpSignalled = false;
  let closed = false;
  let waiting: { promise: Promise<void>; cancel(): void } | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  /** Pulls made through `queue` that have not settled yet. */
  let pending = 0;

  const signalCaughtUp = () => {
    if (reachedHead && !caughtUpSignalled) {
      caughtUpSignalled = true;
      onCaughtUp?.();
    }
  };

  const step = async (): Promise<IteratorResult<RecordedEvent>> => {
    for (;;) {
      if (closed) return { done: true, value: undefined };
      if (index < page.length) {
        const value = page[index]!;
        page[index++] = undefined as unknown as RecordedEvent; // let the consumer's copy be the only one
        return { done: false, value };
      }
      // Everything up to the head as last read has been delivered.
      signalCaughtUp();
      const next = readPage(cursor);
      cursor = next.cursor;
      page = next.events;
      index = 0;
      if (next.atHead) reachedHead = true;
      if (page.length > 0) continue;
      signalCaughtUp();
      waiting = wakeup.wait();
      await waiting.promise;
      waiting = undefined;
    }
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    page = [];
    waiting?.cancel();
    onClose();
  };

  const iterator: AsyncIterableIterator<RecordedEvent> = {
    // Pulls are serialised so two overlapping next() calls cannot deliver the same event.
    // With none outstanding and the page not used up, the event is handed out at once: most
    // pulls are these, and they then cost one settled promise instead of a chain of three.
    next: () => {
      if (pending === 0 && !closed && index < page.length) {
        const value = page[index]!;
        page[index++] = undefined as unknown as RecordedEvent;
        return Promise.resolve({ done: false, value });
      }
      pending++;
      const result = queue.then(step);
      const settled = () => {
        pending--;
      };
      queue = result.then(settled, settled);
      return result;
    },
    return: async () => {
      await close();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };

  return {
    [Symbol.asyncIterator]: () => iterator,
    close,
    get buffered() {
      return page.length - index;
    },
  };
}
