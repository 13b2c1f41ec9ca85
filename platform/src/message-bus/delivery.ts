import type { BusMessage, OutgoingMessage, RetryPolicy } from './port';

/** Shared by both adapters: how a failing message is retried, then dead-lettered. */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 5_000 };

export function resolveRetryPolicy(partial: Partial<RetryPolicy> | undefined): RetryPolicy {
  const policy = { ...defaultRetryPolicy, ...partial };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new RangeError('retry.maxAttempts must be an integer >= 1');
  return policy;
}

/** Backoff before retry n (n = 1 after the first failure). */
export function backoffMs(retry: number, policy: RetryPolicy): number {
  return Math.min(policy.initialBackoffMs * 2 ** (retry - 1), policy.maxBackoffMs);
}

/** Headers a dead-lettered message carries, so an operator can see why and replay it. */
export const dlqHeaders = {
  error: 'dlq-error',
  originalTopic: 'dlq-original-topic',
  originalPartition: 'dlq-original-partition',
  originalOffset: 'dlq-original-offset',
  attempts: 'dlq-attempts',
  failedAt: 'dlq-failed-at',
} as const;

export function deadLetterMessage(message: BusMessage, error: unknown, attempts: number, now: number): OutgoingMessage {
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...message.headers,
      [dlqHeaders.error]: describeError(error),
      [dlqHeaders.originalTopic]: message.topic,
      [dlqHeaders.originalPartition]: String(message.partition),
      [dlqHeaders.originalOffset]: String(message.offset),
      [dlqHeaders.attempts]: String(attempts),
      [dlqHeaders.failedAt]: new Date(now).toISOString(),
    },
  };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 2_000);
  return String(error).slice(0, 2_000);
}

/**
 * A one-shot signal that cuts waits short (a consumer stopping, a partition handed over).
 * Listeners are removed when their wait ends, so a long-lived worker that waits often leaks nothing.
 */
export class Interrupt {
  private readonly listeners = new Set<() => void>();
  fired = false;

  fire(): void {
    if (this.fired) return;
    this.fired = true;
    for (const listener of [...this.listeners]) listener();
    this.listeners.clear();
  }

  /** Calls `listener` when fired; returns the unsubscribe. */
  onFire(listener: () => void): () => void {
    if (this.fired) {
      listener();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves true after `ms`, or false as soon as fired. */
  sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(true);
      }, ms);
      const off = this.onFire(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  }
}

export function validateConsumerOptions(options: { handler?: unknown; batchHandler?: unknown; topics: string[]; groupId: string }): void {
  if (!options.groupId) throw new RangeError('consumer groupId is required');
  if (options.topics.length === 0) throw new RangeError('consumer needs at least one topic');
  if (Boolean(options.handler) === Boolean(options.batchHandler)) throw new RangeError('consumer needs exactly one of handler or batchHandler');
}
