import type { EmailTemplate } from '@saga/event-schemas/email';
import type { EmailId, OrderId } from '@saga/event-schemas/ids';
import { ignore, type Decision, type Ignored } from '../shared/decision';
import type { EmailEvent, EmailState } from './state';

/** The handler renders and tries to send; the decider records what happened. */
export type DeliveryResult = { outcome: 'sent'; attempts: number } | { outcome: 'failed'; error: string; attempts: number };

export interface RecordDelivery {
  type: 'RecordDelivery';
  data: {
    orderId: OrderId;
    emailId: EmailId;
    to: string;
    template: EmailTemplate;
    subject: string;
    body: string;
    result: DeliveryResult;
  };
}

export type EmailCommand = RecordDelivery;
export type EmailContext = Record<string, never>;

/** Asked before the mailer is: an order's email of a kind goes out once. */
export function precheck(template: EmailTemplate, state: EmailState): Ignored | undefined {
  return state.status !== 'none' && state.sent.includes(template) ? ignore('AlreadySent') : undefined;
}

export function decide(command: EmailCommand, state: EmailState, _context: EmailContext = {}): Decision<EmailEvent> {
  switch (command.type) {
    case 'RecordDelivery': {
      const { orderId, emailId, to, template, subject, body, result } = command.data;
      const skip = precheck(template, state);
      if (skip) return skip;
      if (result.outcome === 'failed') {
        return [{ type: 'EmailFailed', data: { orderId, emailId, to, template, error: result.error.slice(0, 2_000), attempts: result.attempts } }];
      }
      return [{ type: 'EmailSent', data: { orderId, emailId, to, template, subject, body, attempts: result.attempts } }];
    }
    default: {
      const unreachable: never = command.type;
      return unreachable;
    }
  }
}
