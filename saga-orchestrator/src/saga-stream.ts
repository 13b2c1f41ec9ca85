import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import type { EventData } from '@saga/event-schemas/catalog';
import { deterministicId } from '@saga/platform/ids';
import { statusOf, type CommandIssued, type SagaEvent, type SagaSnapshot } from './machine';
import { restoreIn, versionOrThrow, type SagaVersion } from './definitions';

/**
 * The saga's own stream, `saga-<orderId>`: one event per applied input (SagaStarted, then
 * SagaTransitioned), each carrying the machine's state and context after it and the commands
 * it issued, plus SagaEnded when it reaches an ending, and SagaMigrated when an operator moves
 * it to a newer definition. Folding it gives the saga back, under the version it runs.
 */
export type IssuedCommand = EventData<'SagaTransitioned'>['commands'][number];

/** What a command's envelope takes from the transition that issued it. */
export interface IssuedBy {
  /** The input event that caused the transition. */
  causationId: string;
  at: string;
}

export interface SagaRecord {
  orderId: string;
  /** The definition the saga runs (SagaStarted's, then each SagaMigrated's). */
  version: SagaVersion;
  /** Revision of the stream's last event: the expected revision of the next append. */
  revision: number;
  snapshot: SagaSnapshot;
  state: string;
  /** Input event ids already applied: a redelivered input is recognised and ignored. */
  seen: ReadonlySet<string>;
}

/** A saga's snapshot from its recorded state and context, under its version (default 1). */
export const restore = (state: string, context: unknown, version: SagaVersion = versionOrThrow(1)): SagaSnapshot => restoreIn(version, state, context);

/** Folds a saga stream; null when there is none. */
export function foldSaga(orderId: string, events: readonly RecordedEvent[]): SagaRecord | null {
  let record: SagaRecord | null = null;
  for (const e of events) {
    if (e.type === 'SagaStarted') {
      const version = versionOrThrow(e.data.version);
      record = {
        orderId,
        version,
        revision: e.revision,
        snapshot: restore(e.data.state, e.data.context, version),
        state: e.data.state,
        seen: new Set([e.data.inputEventId]),
      };
    } else if (e.type === 'SagaTransitioned' && record !== null) {
      const previous: SagaRecord = record;
      record = {
        ...previous,
        revision: e.revision,
        snapshot: restore(e.data.to, e.data.context, previous.version),
        state: e.data.to,
        seen: new Set([...previous.seen, e.data.input.eventId]),
      };
    } else if (e.type === 'SagaMigrated' && record !== null) {
      const previous: SagaRecord = record;
      const version = versionOrThrow(e.data.toVersion);
      record = { ...previous, version, revision: e.revision, snapshot: restore(e.data.to, previous.snapshot.context, version), state: e.data.to };
    } else if (record !== null) {
      const previous: SagaRecord = record;
      record = { ...previous, revision: e.revision };
    }
  }
  return record;
}

export function issuedCommands(orderId: string, emitted: readonly CommandIssued[]): IssuedCommand[] {
  return emitted.map(({ step, command }) => ({
    // The same step of the same saga always gets the same id, so a re-sent command is a no-op.
    commandId: deterministicId(orderId, step, command.type) as IssuedCommand['commandId'],
    step,
    type: command.type,
    data: command.data as Record<string, unknown>,
  }));
}

const metadata = (orderId: string, causationId: string, at: string) => ({ correlationId: orderId, causationId, occurredAt: at });
/** Deterministic, so an append retried after a lost reply is recognised by the store. */
const sagaEventId = (orderId: string, inputEventId: string, index: number) => deterministicId('saga', orderId, inputEventId, index);

export function startedEvents(orderId: string, inputEventId: string, snapshot: SagaSnapshot, commands: IssuedCommand[], at: string, version = 1): NewEvent[] {
  return [
    {
      eventId: sagaEventId(orderId, inputEventId, 0),
      type: 'SagaStarted',
      data: {
        orderId: orderId as EventData<'SagaStarted'>['orderId'],
        inputEventId,
        state: String(snapshot.value),
        context: snapshot.context as unknown as Record<string, unknown>,
        commands,
        timer: snapshot.context.timer,
        at,
        version,
      },
      metadata: metadata(orderId, inputEventId, at),
    },
  ];
}

export function transitionEvents(
  record: SagaRecord,
  input: { type: string; eventId: string; event?: SagaEvent },
  next: SagaSnapshot,
  commands: IssuedCommand[],
  at: string,
): NewEvent[] {
  const orderId = record.orderId as EventData<'SagaStarted'>['orderId'];
  const to = String(next.value);
  const status = statusOf(to);
  const events: NewEvent[] = [
    {
      eventId: sagaEventId(orderId, input.eventId, 0),
      type: 'SagaTransitioned',
      data: {
        orderId,
        // The input as applied, kept whole for what-if replays (without the type, which is beside it).
        input: input.event ? { type: input.type, eventId: input.eventId, event: input.event as unknown as Record<string, unknown> } : { type: input.type, eventId: input.eventId },
        from: record.state,
        to,
        context: next.context as unknown as Record<string, unknown>,
        commands,
        timer: next.context.timer,
        status,
        flags: next.context.flags,
        at,
        stuck: next.context.stuck ?? null,
        version: record.version.version,
      },
      metadata: metadata(orderId, input.eventId, at),
    },
  ];
  if (status !== 'running' && statusOf(record.state) === 'running') {
    const startedAt = next.context.startedAt;
    events.push({
      eventId: sagaEventId(orderId, input.eventId, 1),
      type: 'SagaEnded',
      data: { orderId, status, flags: next.context.flags, startedAt, endedAt: at, durationMs: Math.max(0, Date.parse(at) - Date.parse(startedAt)) },
      metadata: metadata(orderId, input.eventId, at),
    });
  }
  return events;
}

/** An operator moved the saga to `to` under a newer version (planMigration checked it maps). */
export function migratedEvent(
  record: SagaRecord,
  migration: { requestId: string; toVersion: number; to: string; operator: string; reason: string },
  at: string,
): NewEvent {
  const orderId = record.orderId as EventData<'SagaMigrated'>['orderId'];
  return {
    eventId: sagaEventId(orderId, migration.requestId, 0),
    type: 'SagaMigrated',
    data: { orderId, fromVersion: record.version.version, toVersion: migration.toVersion, from: record.state, to: migration.to, operator: migration.operator, reason: migration.reason, at },
    metadata: metadata(orderId, migration.requestId, at),
  };
}

/** The wire form of an issued command; rebuilt identically from the stream after a crash. */
export function commandEnvelope(orderId: string, issuedBy: IssuedBy, command: IssuedCommand): CommandEnvelope {
  return {
    commandId: command.commandId,
    type: command.type,
    data: command.data,
    metadata: { correlationId: orderId, causationId: issuedBy.causationId, issuedAt: issuedBy.at },
  } as unknown as CommandEnvelope;
}
