import { useSyncExternalStore } from 'react';

/** How times read across the app: the viewer's clock, UTC, or "3 min ago". Kept per browser. */
export type TimeMode = 'local' | 'utc' | 'relative';
const modes: readonly TimeMode[] = ['local', 'utc', 'relative'];
const KEY = 'saga.timeMode';

const listeners = new Set<() => void>();
function read(): TimeMode {
  try {
    const v = window.localStorage.getItem(KEY);
    return modes.includes(v as TimeMode) ? (v as TimeMode) : 'local';
  } catch {
    return 'local';
  }
}
let current: TimeMode = read();

export function setTimeMode(mode: TimeMode): void {
  current = mode;
  try {
    window.localStorage.setItem(KEY, mode);
  } catch {
    // Private mode without storage: the choice lasts for this tab.
  }
  for (const l of listeners) l();
}

export function useTimeMode(): TimeMode {
  return useSyncExternalStore(
    (l) => (listeners.add(l), () => listeners.delete(l)),
    () => current,
  );
}

/** Relative times tick: a render every 15 s keeps "just now" honest while the mode is relative. */
const ticks = new Set<() => void>();
let tick = 0;
setInterval(() => {
  if (current !== 'relative' || ticks.size === 0) return;
  tick++;
  for (const l of ticks) l();
}, 15_000);
export function useRelativeTick(): number {
  return useSyncExternalStore(
    (l) => (ticks.add(l), () => ticks.delete(l)),
    () => tick,
  );
}

export function TimeModeSwitch() {
  const mode = useTimeMode();
  return (
    <label className="time-mode" title="How times are shown">
      <span className="visually-hidden">Times in</span>
      <select value={mode} onChange={(e) => setTimeMode(e.target.value as TimeMode)} data-testid="time-mode">
        <option value="local">Local time</option>
        <option value="utc">UTC</option>
        <option value="relative">Relative</option>
      </select>
    </label>
  );
}
