import type { Sleep } from './runtime';

export interface BackoffPolicy {
  /** Tries in all, the first included. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export type Attempt<T> = { ok: true; value: T; attempts: number } | { ok: false; error: unknown; attempts: number };

/**
 * Calls `work` until it succeeds, `isRetryable` says no, or the attempts run out, sleeping
 * min(initial * 2^(n-1), max) between tries. Returns the outcome instead of throwing so the
 * caller can record the failure (e.g. EmailFailed, a gateway_unavailable decline).
 */
export async function withBackoff<T>(
  work: (attempt: number) => Promise<T>,
  policy: BackoffPolicy,
  sleep: Sleep,
  isRetryable: (error: unknown) => boolean = () => true,
): Promise<Attempt<T>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await work(attempt), attempts: attempt };
    } catch (error) {
      if (attempt >= policy.maxAttempts || !isRetryable(error)) return { ok: false, error, attempts: attempt };
      await sleep(Math.min(policy.initialDelayMs * 2 ** (attempt - 1), policy.maxDelayMs));
    }
  }
}
