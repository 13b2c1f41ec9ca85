import type { BusMessage, ConsumerOptions, OutgoingMessage, RetryPolicy } from './port';
import { isTransientError } from './transient';

/** Shared by both adapters: how a message failing on its content is retried, then dead-lettered. */
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
  /** The consumer group that gave up on it. */
  group: 'dlq-group',
} as const;

export function deadLetterMessage(message: BusMessage, error: unknown, attempts: number, now: number, group?: string): OutgoingMessage {
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
      ...(group ? { [dlqHeaders.group]: group } : {}),
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

/** What the delivery loop needs from the bus for one partition's run of messages. */
export interface DeliveryTarget {
  policy: RetryPolicy;
  /** Fired when the partition is being left (stop, revoke, lost): cuts backoffs short. */
  leave: Interrupt;
  /** True once the loop must stop between messages. */
  leaving(): boolean;
  /** Proves the member alive; called after every handled message and during long waits (Kafka). */
  heartbeat?: () => Promise<void>;
  /**
   * Produces the dead letter (and commits past it where the bus can do both at once).
   * False when the partition was lost meanwhile: the loop stops, the new owner redelivers.
   */
  deadLetter(message: BusMessage, dead: OutgoingMessage): Promise<boolean> | boolean;
  /** Told about an outage being waited out (rate-limited by the backoff). */
  onOutage?: (error: unknown, retry: number) => void;
}

/** Longest stretch a backoff sleeps between heartbeats. */
const HEARTBEAT_SLICE_MS = 1_000;

/**
 * Delivers one partition's messages in order: as a batch first (if a batch handler), then one
 * by one. An outage (`isTransientError`) is retried without limit, with capped backoff and
 * heartbeats, and never dead-letters; a failure of the message itself is retried up to
 * `maxAttempts`, then the message is dead-lettered and the partition moves on.
 * Returns the offset after the last message handled or dead-lettered, or undefined if none.
 */
export async function deliverWithRetry(
  messages: BusMessage[],
  handlers: Pick<ConsumerOptions, 'handler' | 'batchHandler'> & { groupId?: string },
  target: DeliveryTarget,
): Promise<number | undefined> {
  const { batchHandler, handler } = handlers;
  if (batchHandler) {
    for (let outage = 1; ; outage++) {
      try {
        await batchHandler(messages);
        if (target.heartbeat) await target.heartbeat();
        return messages[messages.length - 1]!.offset + 1;
      } catch (error) {
        // An outage: the same batch again later. Anything else: find the culprit one by one below.
        if (!isTransientError(error)) break;
        target.onOutage?.(error, outage);
        if (!(await pause(backoffMs(outage, target.policy), target))) return undefined;
      }
    }
  }
  const one = handler ?? ((m: BusMessage) => batchHandler!([m]));
  let next: number | undefined;
  for (const message of messages) {
    if (target.leaving()) break;
    if (!(await handleOne(message, one, target, handlers.groupId))) break;
    next = message.offset + 1;
    if (target.heartbeat) await target.heartbeat();
  }
  return next;
}

/** Handles or dead-letters one message; false if interrupted first (nothing to commit for it). */
async function handleOne(message: BusMessage, one: (m: BusMessage) => Promise<void>, target: DeliveryTarget, group?: string): Promise<boolean> {
  const { policy } = target;
  let failures = 0;
  let outages = 0;
  for (;;) {
    try {
      await one(message);
      return true;
    } catch (error) {
      if (isTransientError(error)) {
        outages++;
        target.onOutage?.(error, outages);
        if (!(await pause(backoffMs(outages, policy), target))) return false;
        continue;
      }
      failures++;
      if (failures >= policy.maxAttempts) return deadLetterUntilDone(message, deadLetterMessage(message, error, failures, Date.now(), group), target);
      if (!(await pause(backoffMs(failures, policy), target))) return false;
    }
  }
}

/** The dead-letter write itself waits out an outage of the bus: a poison message is never dropped. */
async function deadLetterUntilDone(message: BusMessage, dead: OutgoingMessage, target: DeliveryTarget): Promise<boolean> {
  for (let outage = 1; ; outage++) {
    try {
      return await target.deadLetter(message, dead);
    } catch (error) {
      if (!isTransientError(error)) throw error;
      target.onOutage?.(error, outage);
      if (!(await pause(backoffMs(outage, target.policy), target))) return false;
    }
  }
}

/** Sleeps `ms`, heartbeating every second of it; false if the partition is left meanwhile. */
async function pause(ms: number, target: DeliveryTarget): Promise<boolean> {
  if (!target.heartbeat) return target.leave.sleep(ms);
  for (let left = ms; left > 0; left -= HEARTBEAT_SLICE_MS) {
    if (!(await target.leave.sleep(Math.min(left, HEARTBEAT_SLICE_MS)))) return false;
    await target.heartbeat();
  }
  return true;
}
