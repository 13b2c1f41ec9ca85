/**
 * Email command handlers. Signatures:
 *
 *   createEmailHandlers(deps: EmailHandlerDeps): EmailHandlers
 *     deps = { store: EventStore; mailer: Mailer; clock: () => Date; logger?: Logger; sleep?: Sleep;
 *              retry?: BackoffPolicy (default 3 tries, 100 ms doubling to 2 s) }
 *
 *   handleSagaCommand(envelope: CommandEnvelope<'SendEmail'>): Promise<CommandOutcome<EmailEvent>>
 *     Renders the template, sends with retries, appends EmailSent (with subject and body, which the
 *     mailbox read model shows) or EmailFailed once the tries run out. One email per template per order.
 */
import type { CommandEnvelope } from '@saga/event-schemas/commands';
import type { EmailId, OrderId } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { deterministicId } from '@saga/platform/ids';
import { withGroupCommit } from '../shared/group-commit';
import { aggregateLoader, handleCommand, type CommandOutcome } from '../shared/command-handler';
import { ignore } from '../shared/decision';
import { withBackoff, type BackoffPolicy } from '../shared/retry';
import { realSleep, silentLogger, type Clock, type Logger, type Sleep } from '../shared/runtime';
import { decide, precheck, type DeliveryResult } from './decide';
import type { Mailer } from './mailer';
import { evolve, initialState, type EmailEvent } from './state';
import { renderEmail } from './templates';

export interface EmailHandlerDeps {
  store: EventStore;
  mailer: Mailer;
  clock: Clock;
  logger?: Logger;
  sleep?: Sleep;
  retry?: BackoffPolicy;
}

export interface EmailHandlers {
  handleSagaCommand(envelope: CommandEnvelope<'SendEmail'>): Promise<CommandOutcome<EmailEvent>>;
}

export const defaultMailRetry: BackoffPolicy = { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 2_000 };

export function createEmailHandlers(deps: EmailHandlerDeps): EmailHandlers {
  const { mailer, clock } = deps;
  // Concurrent commands (a bus batch's) share a commit.
  const store = withGroupCommit(deps.store);
  const logger = deps.logger ?? silentLogger;
  const sleep = deps.sleep ?? realSleep;
  const retry = deps.retry ?? defaultMailRetry;
  // Each command reads only what its stream gained since the last one (command-handler.ts).
  const load = aggregateLoader(store, initialState, evolve);

  return {
    async handleSagaCommand(envelope) {
      const { orderId, to, template, data } = envelope.data;
      const streamId = streamIdFor.email(orderId);
      const log = { correlationId: envelope.metadata.correlationId, commandId: envelope.commandId, template };
      const before = await load(streamId);
      if (before.handledCommands.has(envelope.commandId)) return ignore('AlreadyHandled');
      const skip = precheck(template, before.state);
      if (skip) return skip;

      const { subject, body } = renderEmail(template, data);
      const sent = await withBackoff(() => mailer.send({ to, subject, text: body }), retry, sleep);
      const result: DeliveryResult = sent.ok
        ? { outcome: 'sent', attempts: sent.attempts }
        : { outcome: 'failed', error: sent.error instanceof Error ? sent.error.message : String(sent.error), attempts: sent.attempts };
      logger(sent.ok ? 'info' : 'warn', sent.ok ? 'email sent' : 'email failed after retries', { ...log, attempts: sent.attempts });

      return handleCommand({
        store,
        load,
        streamId,
        loaded: before,
        initialState,
        evolve,
        decide: (state) =>
          decide(
            {
              type: 'RecordDelivery',
              data: {
                orderId: orderId as OrderId,
                // The same command always names the same email, so a re-run records the same one.
                emailId: deterministicId(envelope.commandId, 'email') as EmailId,
                to,
                template,
                subject,
                body,
                result,
              },
            },
            state,
          ),
        causation: {
          commandId: envelope.commandId,
          correlationId: envelope.metadata.correlationId,
          occurredAt: clock().toISOString(),
          ...(envelope.metadata.userId === undefined ? {} : { userId: envelope.metadata.userId }),
        },
      });
    },
  };
}
