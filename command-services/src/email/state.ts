import type { EventOf } from '@saga/event-schemas/catalog';
import type { EmailTemplate } from '@saga/event-schemas/email';

export type EmailEvent = EventOf<'EmailSent'> | EventOf<'EmailFailed'>;

/**
 * The emails of one order. `status` is the last outcome; `sent` lists the templates that went
 * out, since each is sent at most once per order.
 */
export type EmailState =
  | { status: 'none' }
  | { status: 'sent'; sent: readonly EmailTemplate[]; lastEmailId: string }
  | { status: 'failed'; sent: readonly EmailTemplate[]; lastEmailId: string; failedTemplate: EmailTemplate; error: string };

export const initialState: EmailState = { status: 'none' };

export function evolve(state: EmailState, event: EmailEvent): EmailState {
  const sent = state.status === 'none' ? [] : state.sent;
  switch (event.type) {
    case 'EmailSent':
      return { status: 'sent', sent: sent.includes(event.data.template) ? sent : [...sent, event.data.template], lastEmailId: event.data.emailId };
    case 'EmailFailed':
      return { status: 'failed', sent, lastEmailId: event.data.emailId, failedTemplate: event.data.template, error: event.data.error };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
