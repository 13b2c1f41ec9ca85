import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { eventCatalog, type EventType } from '@saga/event-schemas/catalog';
import { eventTopic } from '@saga/event-schemas/streams';
import type { CollectionSpec, Document } from '@saga/platform/document-store/port';

/**
 * A projected document remembers, for every stream that fed it, the last revision it
 * applied. The bus keeps one stream's events in order but interleaves streams freely (one
 * topic per category, many partitions), so a single global position cannot tell a
 * redelivery from an event that was merely overtaken; a per-stream revision can. Because
 * the mark lives inside the document, it travels with it when a rebuilt collection is
 * swapped in, and the write that changes a document also records what it applied.
 */
export interface ProjectedDoc extends Document {
  /**
   * `{ s: streamId, r: revision }` entries, sorted by stream id (so the same history gives the
   * same document whatever order the streams arrived in). A list rather than an object keyed by
   * stream id: those keys are unique to each document, which costs the JavaScript engine dearly
   * on a rebuild of a million events, and a stream id is not checked to be a safe MongoDB field
   * name. Objects rather than `[id, revision]` pairs: FerretDB rejects nested arrays.
   */
  _applied: Applied;
}

export type Applied = { s: string; r: number }[];

export function appliedRevision(doc: { _applied: Applied } | null, streamId: string): number {
  if (!doc) return -1;
  for (const entry of doc._applied) if (entry.s === streamId) return entry.r;
  return -1;
}

function withApplied(applied: Applied, streamId: string, revision: number): Applied {
  const out: Applied = [];
  let placed = false;
  for (const entry of applied) {
    if (entry.s === streamId) continue;
    if (!placed && entry.s > streamId) {
      out.push({ s: streamId, r: revision });
      placed = true;
    }
    out.push(entry);
  }
  if (!placed) out.push({ s: streamId, r: revision });
  return out;
}

/**
 * A running total over all documents of a projection (the stats): kept up to date by
 * subtracting a document's old contribution and adding its new one, so it stays exact
 * whatever order the documents change in, and needs no dedup of its own.
 */
export interface Summary<D extends ProjectedDoc, S extends Document> {
  id: string;
  initial: () => S;
  add: (summary: S, doc: D, sign: 1 | -1) => S;
}

export interface Projection<D extends ProjectedDoc, S extends Document = Document> {
  /** Also the name of the collection the read API reads, and of the consumer group's suffix. */
  name: string;
  collection: CollectionSpec;
  eventTypes: readonly EventType[];
  /** The documents an event may change. */
  docIds: (event: RecordedEvent) => string[];
  /** Pure: the document after the event, or null when the event leaves no document. */
  evolve: (doc: D | null, event: RecordedEvent, id: string) => D | null;
  summary?: Summary<D, S>;
}

/**
 * Any projection, whatever its document types, for registries and the runner (which only
 * moves documents between the store and `evolve`). `any` is the variance escape here.
 */
export type AnyProjection = Projection<any, any>;

const typeSets = new WeakMap<AnyProjection, ReadonlySet<string>>();
export function handles(projection: AnyProjection, event: { type: string }): boolean {
  let types = typeSets.get(projection);
  if (!types) typeSets.set(projection, (types = new Set(projection.eventTypes)));
  return types.has(event.type);
}

/** The bus topics carrying the events a projection handles. */
export function topicsOf(projection: AnyProjection): string[] {
  const categories = new Set(projection.eventTypes.map((type) => eventCatalog[type].category));
  return [...categories].sort().map(eventTopic);
}

export const groupIdOf = (projection: { name: string }): string => `projection-${projection.name}`;

/** The checkpoint holding the highest global position a projection has applied (for status and lag). */
export const checkpointOf = (collection: string): string => `projection:${collection}`;

/**
 * A working set of documents an in-flight batch reads and changes. `changed` lists the ids
 * to write back. The set is the runner's scratch space; `evolve` itself never mutates.
 */
export interface WorkingSet {
  docs: Map<string, Document | null>;
  changed: Set<string>;
}

/**
 * Folds one event into the working set: each target document applies it unless it has
 * already applied this stream's revision (a redelivery or a replay), and the summary moves
 * by the difference. Returns whether anything changed.
 */
export function applyEvent(projection: AnyProjection, set: WorkingSet, event: RecordedEvent, withSummary = true): boolean {
  if (!handles(projection, event)) return false;
  let changed = false;
  for (const id of projection.docIds(event)) {
    const before = (set.docs.get(id) ?? null) as ProjectedDoc | null;
    if (appliedRevision(before, event.streamId) >= event.revision) continue;
    const evolved = projection.evolve(before, event, id) as ProjectedDoc | null;
    if (evolved === null) continue;
    // `evolve` returns a new object when it changes anything; that one is ours to stamp
    // (sparing a copy of every document for every event on a rebuild), the input never is.
    const after: ProjectedDoc = evolved === before ? { ...evolved } : evolved;
    after._applied = withApplied(evolved._applied, event.streamId, event.revision);
    set.docs.set(id, after);
    set.changed.add(id);
    changed = true;
    if (projection.summary && withSummary) {
      const summary = projection.summary;
      let total = (set.docs.get(summary.id) as Document | null | undefined) ?? summary.initial();
      if (before) total = summary.add(total, before, -1);
      total = summary.add(total, after, 1);
      set.docs.set(summary.id, total);
      set.changed.add(summary.id);
    }
  }
  return changed;
}

/** The ids a batch of events needs loaded before folding. */
export function idsNeeded(projection: AnyProjection, events: RecordedEvent[]): string[] {
  const ids = new Set<string>();
  for (const event of events) {
    if (!handles(projection, event)) continue;
    for (const id of projection.docIds(event)) ids.add(id);
  }
  if (projection.summary && ids.size > 0) ids.add(projection.summary.id);
  return [...ids];
}

/** Folds events over an empty store: what a projection holds after exactly these events (specs, checks). */
export function projectAll(projection: AnyProjection, events: RecordedEvent[], start: Document[] = []): Map<string, Document> {
  const set: WorkingSet = { docs: new Map(start.map((d) => [d.id, d])), changed: new Set() };
  for (const event of events) applyEvent(projection, set, event);
  const out = new Map<string, Document>();
  for (const [id, doc] of set.docs) if (doc) out.set(id, doc);
  return out;
}

/** A document as readers see it. (`Omit` would drop the named fields of an indexed type.) */
export type PublicView<D> = { [K in keyof D as K extends '_applied' | '_pending' ? never : K]: D[K] };

/** Removes the bookkeeping a reader has no use for (a summary's `_pending`: see the runner). */
export function publicView<D extends Document>(doc: D): PublicView<D> {
  const { _applied: _ignored, _pending: _promised, ...rest } = doc as D & { _applied?: unknown; _pending?: unknown };
  return rest as unknown as PublicView<D>;
}

/**
 * The specs' grammar: given these events already applied, when these arrive, then the
 * projection holds exactly these documents.
 */
export function given(projection: AnyProjection, history: RecordedEvent[] = []) {
  return {
    when: (...events: RecordedEvent[]) => ({
      documents: () => Object.fromEntries(projectAll(projection, [...history, ...events])),
    }),
  };
}
