import { parseCommand, type CommandEnvelope, type CommandType } from '@saga/event-schemas/commands';
import type { CommandTopic } from '@saga/event-schemas/streams';
import type { BusMessage, Consumer, MessageBus, RetryPolicy } from '@saga/platform/message-bus/port';
import type { Logger } from './runtime';

export interface CommandConsumerOptions<T extends CommandType> {
  bus: MessageBus;
  topic: CommandTopic;
  groupId: string;
  /** The command types this service answers; anything else on its topic is a poison message. */
  accepts: readonly T[];
  handle: (envelope: CommandEnvelope<T>) => Promise<unknown>;
  logger: Logger;
  retry?: Partial<RetryPolicy>;
}

/** Thrown for a message that can never be handled; the bus dead-letters it after its retries. */
export class UnhandledCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnhandledCommandError';
  }
}

/**
 * Subscribes a service to its command topic. A message is validated (`parseCommand`) and
 * handed to the handler; the offset is committed once the handler resolves. Handlers are
 * idempotent by command id, so the bus's at-least-once redelivery appends nothing twice.
 *
 * Messages come in batches (one partition's, in order): one order's commands are handled one
 * after another in that order, different orders' concurrently, so their appends meet in one
 * group commit (group-commit.ts). If any fails, the bus retries the batch message by message
 * (the ones already handled are no-ops) and dead-letters the one that keeps failing.
 */
export function consumeCommands<T extends CommandType>(options: CommandConsumerOptions<T>): Promise<Consumer> {
  const { bus, topic, groupId, accepts, handle, logger } = options;
  const handleOne = async (message: BusMessage) => {
    const envelope = decode(message);
    if (!(accepts as readonly string[]).includes(envelope.type)) {
      throw new UnhandledCommandError(`${topic} does not handle ${envelope.type}`);
    }
    try {
      await handle(envelope as CommandEnvelope<T>);
    } catch (error) {
      logger('error', `${envelope.type} failed`, {
        correlationId: envelope.metadata.correlationId,
        commandId: envelope.commandId,
        error: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
  };
  return bus.consume({
    groupId,
    topics: [topic],
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    batchHandler: async (messages: BusMessage[]) => {
      if (messages.length === 1) return handleOne(messages[0]!);
      const byKey = new Map<string, BusMessage[]>();
      for (const m of messages) {
        const same = byKey.get(m.key);
        if (same) same.push(m);
        else byKey.set(m.key, [m]);
      }
      const outcomes = await Promise.allSettled(
        [...byKey.values()].map(async (keyed) => {
          for (const m of keyed) await handleOne(m);
        }),
      );
      const failed = outcomes.find((o) => o.status === 'rejected');
      if (failed) throw failed.reason;
    },
  });
}

function decode(message: BusMessage): CommandEnvelope {
  try {
    return parseCommand(JSON.parse(message.value));
  } catch (error) {
    throw new UnhandledCommandError(
      `malformed command at ${message.topic}/${message.partition}@${message.offset}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
