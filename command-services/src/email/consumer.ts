import { commandTopics } from '@saga/event-schemas/streams';
import type { Consumer, MessageBus, RetryPolicy } from '@saga/platform/message-bus/port';
import { consumeCommands } from '../shared/command-consumer';
import { silentLogger, type Logger } from '../shared/runtime';
import type { EmailHandlers } from './handlers';

export interface EmailConsumerDeps {
  bus: MessageBus;
  handlers: EmailHandlers;
  logger?: Logger;
  groupId?: string;
  retry?: Partial<RetryPolicy>;
}

/** The email service's one command: SendEmail. Its own retries run inside the handler. */
export function startEmailConsumer(deps: EmailConsumerDeps): Promise<Consumer> {
  return consumeCommands({
    bus: deps.bus,
    topic: commandTopics.email,
    groupId: deps.groupId ?? 'email-service',
    accepts: ['SendEmail'],
    handle: (envelope) => deps.handlers.handleSagaCommand(envelope),
    logger: deps.logger ?? silentLogger,
    ...(deps.retry === undefined ? {} : { retry: deps.retry }),
  });
}
