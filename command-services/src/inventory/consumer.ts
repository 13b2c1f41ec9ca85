import { commandTopics } from '@saga/event-schemas/streams';
import type { Consumer, MessageBus, RetryPolicy } from '@saga/platform/message-bus/port';
import { consumeCommands } from '../shared/command-consumer';
import { silentLogger, type Logger } from '../shared/runtime';
import type { InventoryHandlers } from './handlers';

export interface InventoryConsumerDeps {
  bus: MessageBus;
  handlers: Pick<InventoryHandlers, 'handleSagaCommand'>;
  logger?: Logger;
  groupId?: string;
  retry?: Partial<RetryPolicy>;
}

/** The inventory's answers to the saga: reserve, release, commit. */
export function startInventoryConsumer(deps: InventoryConsumerDeps): Promise<Consumer> {
  return consumeCommands({
    bus: deps.bus,
    topic: commandTopics.inventory,
    groupId: deps.groupId ?? 'inventory-service',
    accepts: ['ReserveStock', 'ReleaseStock', 'CommitStock'],
    handle: (envelope) => deps.handlers.handleSagaCommand(envelope),
    logger: deps.logger ?? silentLogger,
    ...(deps.retry === undefined ? {} : { retry: deps.retry }),
  });
}
