import { checkEvent, currentVersion, isEventType, upcast } from '@saga/event-schemas/catalog';
import type { EventMetadata, LogPosition, NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import type { Issue } from '../errors';
import { EventValidationError } from './port';

/** An event checked against its schema and stamped with the catalog's current version, ready to store. */
export interface EncodedEvent {
  eventId: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

// EventStoreDB only accepts UUIDs as event ids; the embedded store holds to the same rule.
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const metadataKeys = new Set(['correlationId', 'causationId', 'userId', 'occurredAt']);
const idText = (v: unknown, max: number) => typeof v === 'string' && v.length >= 1 && v.length <= max;

/**
 * Validates a whole batch before anything is written: the first invalid event fails the batch
 * with its zod issues. Metadata is checked by hand because it sits on the append hot path and
 * its shape is small and fixed (the same rules as `EventMetadata`).
 */
export function encodeBatch(events: readonly NewEvent[], now: string): EncodedEvent[] {
  const out = new Array<EncodedEvent>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const checked = checkEvent(e.type, e.data);
    if (!checked.success) {
      const err = checked.error;
      const issues: Issue[] =
        'issues' in err
          ? err.issues.map((issue) => ({
              path: issue.path.map((p) => (typeof p === 'number' ? p : String(p))),
              message: issue.message,
              code: issue.code,
            }))
          : [{ path: ['type'], message: err.message, code: 'unknown_event_type' }];
      throw new EventValidationError(String(e.type), issues);
    }
    const m = e.metadata;
    const bad: Issue[] = [];
    if (typeof e.eventId !== 'string' || !uuid.test(e.eventId)) bad.push({ path: ['eventId'], message: 'eventId must be a UUID' });
    if (!m || typeof m !== 'object') bad.push({ path: ['metadata'], message: 'metadata is required' });
    else {
      if (!idText(m.correlationId, 200)) bad.push({ path: ['metadata', 'correlationId'], message: 'must be 1-200 characters' });
      if (!idText(m.causationId, 200)) bad.push({ path: ['metadata', 'causationId'], message: 'must be 1-200 characters' });
      if (m.userId !== undefined && !(typeof m.userId === 'string' && m.userId.length <= 200))
        bad.push({ path: ['metadata', 'userId'], message: 'must be at most 200 characters' });
      if (m.occurredAt !== undefined && !(typeof m.occurredAt === 'string' && isoTime.test(m.occurredAt)))
        bad.push({ path: ['metadata', 'occurredAt'], message: 'must be an ISO 8601 UTC date-time' });
      for (const key of Object.keys(m)) if (!metadataKeys.has(key)) bad.push({ path: ['metadata', key], message: 'unrecognized key' });
    }
    if (bad.length > 0) throw new EventValidationError(String(e.type), bad);
    // Built key by key (no spread of a temporary object): this runs for every appended event.
    const metadata = { correlationId: m.correlationId, causationId: m.causationId } as EventMetadata;
    if (m.userId !== undefined) metadata.userId = m.userId;
    metadata.schemaVersion = currentVersion(e.type);
    metadata.occurredAt = m.occurredAt ?? now;
    out[i] = { eventId: e.eventId, type: e.type, data: checked.data, metadata };
  }
  return out;
}

/** Builds the recorded event a reader sees: data written at an older schema version is upcast to the current one. */
export function decodeEvent(
  eventId: string,
  type: string,
  streamId: string,
  revision: number,
  position: LogPosition,
  data: unknown,
  metadata: EventMetadata,
): RecordedEvent {
  if (isEventType(type)) {
    const version = currentVersion(type);
    if (metadata.schemaVersion < version) {
      data = upcast(type, metadata.schemaVersion, data);
      metadata = { ...metadata, schemaVersion: version };
    }
  }
  return { eventId, type, streamId, revision, position, data, metadata } as RecordedEvent;
}

export function matchesFilter(type: string, streamId: string, filter?: { eventTypes?: string[]; streamPrefixes?: string[] }): boolean {
  if (!filter) return true;
  if (filter.eventTypes && !filter.eventTypes.includes(type)) return false;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((p) => streamId.startsWith(p))) return false;
  return true;
}
