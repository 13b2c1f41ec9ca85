import { commandTopics } from '@saga/event-schemas/streams';
import type { Consumer, MessageBus, RetryPolicy } from '@saga/platform/message-bus/port';
import { consumeCommands } from '../shared/command-consumer';
import { silentLogger, type Logger } from '../shared/runtime';
import type { OrderHandlers } from './handlers';

export interface OrderConsumerDeps {
  bus: MessageBus;
  handlers: Pick<OrderHandlers, 'handleSagaCommand'>;
  logger?: Logger;
  groupId?: string;
  retry?: Partial<RetryPolicy>;
}

/** The order service's answers to the saga: confirm, reject, cancel. */
export function startOrderConsumer(deps: OrderConsumerDeps): Promise<Consumer> {
  return consumeCommands({
    bus: deps.bus,
    topic: commandTopics.order,
    groupId: deps.groupId ?? 'order-service',
    accepts: ['ConfirmOrder', 'RejectOrder', 'CancelOrder'],
    handle: (envelope) => deps.handlers.handleSagaCommand(envelope),
    logger: deps.logger ?? silentLogger,
    ...(deps.retry === undefined ? {} : { retry: deps.retry }),
  });
}
