import type { Document, DocumentStore } from '@saga/platform/document-store/port';
import type { AnyProjection } from '../projectors/projection';

/** A poll for `condition`, every 20 ms, failing after `timeoutMs` (the spec's default unless given). */
export function untilWithin(defaultTimeoutMs: number) {
  return async (condition: () => Promise<boolean>, what: string, timeoutMs = defaultTimeoutMs): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
}

/** Every document of a projection's collection, by id, read page by page. */
export async function allDocs(store: DocumentStore, projection: AnyProjection): Promise<Record<string, Document>> {
  const collection = await store.collection(projection.collection);
  const out: Record<string, Document> = {};
  let cursor: string | undefined;
  do {
    const page = await collection.find({ limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const doc of page.items) out[doc.id] = doc;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}
