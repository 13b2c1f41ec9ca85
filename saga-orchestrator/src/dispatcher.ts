import { commandTopicOf } from '@saga/event-schemas/commands';
import type { RecordedEvent } from '@saga/event-schemas/envelope';
import { idOf } from '@saga/event-schemas/streams';
import { followLog } from '@saga/platform/event-store/follow-log';
import type { EventStore } from '@saga/platform/event-store/port';
import type { MessageBus, OutgoingMessage } from '@saga/platform/message-bus/port';
import { commandEnvelope, type IssuedCommand } from './saga-stream';
import type { SagaLog } from './log';

/**
 * The saga's outbox relay. Transitions are appended to the saga streams first; this follows
 * the store's log of saga transitions from its checkpoint and publishes the commands they
 * issued, the checkpoint written in the same bus transaction as the commands (`followLog`). A
 * crash at any instant therefore loses no command and repeats none; with several orchestrator
 * processes only the one holding the dispatcher's lease dispatches, and another takes over when
 * it dies. Batching many sagas' commands into one bus transaction is what keeps the saga fast.
 */
export const dispatcherCheckpoint = 'saga-dispatcher';

export interface CommandDispatcher {
  /** Whether this instance holds the lease and dispatches now. */
  readonly active: boolean;
  stop(): Promise<void>;
}

export function commandMessagesOf(event: RecordedEvent): { topic: string; message: OutgoingMessage }[] {
  if (event.type !== 'SagaStarted' && event.type !== 'SagaTransitioned') return [];
  const orderId = idOf(event.streamId);
  const data = event.data as { commands: IssuedCommand[]; at: string; inputEventId?: string; input?: { eventId: string } };
  const outbox = { causationId: data.inputEventId ?? data.input?.eventId ?? event.eventId, at: data.at };
  return data.commands.map((command) => ({
    topic: commandTopicOf(command.type),
    message: { key: orderId, value: JSON.stringify(commandEnvelope(orderId, outbox, command)) },
  }));
}

export async function startCommandDispatcher(deps: {
  store: EventStore;
  bus: MessageBus;
  log: SagaLog;
  maxBatchSize?: number;
  /** Several orchestrator processes: only the lease holder dispatches. Default true. */
  lease?: boolean;
  /** Default `dispatcherCheckpoint`; a test on a shared broker takes one of its own. */
  checkpoint?: string;
}): Promise<CommandDispatcher> {
  const { log } = deps;
  return followLog({
    store: deps.store,
    bus: deps.bus,
    checkpoint: deps.checkpoint ?? dispatcherCheckpoint,
    // The two types only saga streams hold: one filter, which every store can apply server-side.
    filter: { eventTypes: ['SagaStarted', 'SagaTransitioned'] },
    toMessages: commandMessagesOf,
    log: (level, msg, extra) => log[level](extra ?? {}, `saga: ${msg}`),
    maxBatchSize: deps.maxBatchSize ?? 500,
    label: 'dispatcher',
    ...(deps.lease === undefined ? {} : { lease: deps.lease }),
  });
}
