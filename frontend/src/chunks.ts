/**
 * A tab opened before a redeploy asks for the previous build's chunks, which are gone (the
 * gateway answers 404). The only cure is the new index.html, so the app reloads itself,
 * once: a marker in sessionStorage stops a loop when the chunk is missing for another reason.
 */
const MARK = 'chunk-reload-at';
const ONCE_WITHIN_MS = 60_000;

export function isChunkLoadError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /dynamically imported module|Importing a module script failed|error loading dynamically imported module|Unable to preload CSS/i.test(message);
}

/** Reloads the page unless it already did so in the last minute; true if it reloads. */
export function reloadOnceForNewBuild(): boolean {
  const last = Number(sessionStorage.getItem(MARK) ?? 0);
  if (Date.now() - last < ONCE_WITHIN_MS) return false;
  sessionStorage.setItem(MARK, String(Date.now()));
  window.location.reload();
  return true;
}

/** `import()` that turns a missing chunk into one reload instead of an error box. */
export async function importFresh<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (isChunkLoadError(err) && reloadOnceForNewBuild()) return new Promise<T>(() => {});
    throw err;
  }
}

/** Vite's own signal for a failed preload of a lazy chunk's dependencies. */
export function installChunkReload(): void {
  window.addEventListener('vite:preloadError', (event) => {
    if (reloadOnceForNewBuild()) event.preventDefault();
  });
}
