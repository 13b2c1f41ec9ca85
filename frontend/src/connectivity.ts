import { useEffect, useSyncExternalStore } from 'react';

/**
 * Whether the server answers, for the whole app. A request that cannot reach it marks the
 * app offline; then /healthz is probed with backoff (1 s doubling to 10 s) until it answers,
 * and every page's failed loads retry at once. Any answer, even a 4xx, means reachable.
 */
let reachable = true;
let probe: ReturnType<typeof setTimeout> | null = null;
let delayMs = 1000;
const listeners = new Set<() => void>();
const recoveries = new Set<() => void>();

function set(now: boolean) {
  if (now === reachable) return;
  reachable = now;
  for (const l of listeners) l();
  if (now) for (const r of [...recoveries]) r();
}

function scheduleProbe() {
  if (probe) return;
  probe = setTimeout(async () => {
    probe = null;
    try {
      const res = await fetch('/healthz', { cache: 'no-store' });
      if (res.ok) {
        delayMs = 1000;
        set(true);
        return;
      }
    } catch {
      // still down
    }
    delayMs = Math.min(10_000, delayMs * 2);
    scheduleProbe();
  }, delayMs);
}

export function reportReachable(ok: boolean): void {
  if (ok) {
    delayMs = 1000;
    set(true);
    return;
  }
  set(false);
  scheduleProbe();
}

/** Probes now rather than at the next backoff step (the banner's "Retry now"). */
export function probeNow(): void {
  if (probe) clearTimeout(probe);
  probe = null;
  delayMs = 0;
  scheduleProbe();
  delayMs = 1000;
}

export function useReachable(): boolean {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => reachable,
  );
}

/** Calls `retry` when the server becomes reachable again (while `enabled`). */
export function useRetryOnRecovery(enabled: boolean, retry: () => void): void {
  useEffect(() => {
    if (!enabled) return;
    recoveries.add(retry);
    return () => {
      recoveries.delete(retry);
    };
  }, [enabled, retry]);
}
