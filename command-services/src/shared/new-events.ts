import type { DomainEvent } from '@saga/event-schemas/catalog';
import type { NewEvent } from '@saga/event-schemas/envelope';
import { deterministicId } from '@saga/platform/ids';

export interface Causation {
  /** The command these events answer; event i gets id `deterministicId(commandId, i)`. */
  commandId: string;
  /** The order the events belong to. */
  correlationId: string;
  userId?: string;
  occurredAt: string;
  /** Index of the first event, when the command appends in steps (a charge: its attempt, then its answer). Default 0. */
  firstIndex?: number;
}

/**
 * Wraps decided events for the store. Deterministic ids mean a retried append of the same
 * command writes the same event ids, and the causation id lets the aggregate remember which
 * commands it has already handled.
 */
export function toNewEvents(events: DomainEvent[], causation: Causation): NewEvent[] {
  return events.map(
    (event, i) =>
      ({
        eventId: deterministicId(causation.commandId, (causation.firstIndex ?? 0) + i),
        type: event.type,
        data: event.data,
        metadata: {
          correlationId: causation.correlationId,
          causationId: causation.commandId,
          ...(causation.userId === undefined ? {} : { userId: causation.userId }),
          occurredAt: causation.occurredAt,
        },
      }) as NewEvent,
  );
}
