import { describe, it } from 'vitest';
import type { EmailId, OrderId } from '@saga/event-schemas/ids';
import { deciderSpec } from '../shared/decider-spec';
import { decide, type RecordDelivery } from './decide';
import { evolve, initialState, type EmailEvent } from './state';

const { given } = deciderSpec({ initialState, evolve, decide }, {});

const orderId = 'order-1' as OrderId;
const emailId = 'e1' as EmailId;
const delivery = (result: RecordDelivery['data']['result'], template: RecordDelivery['data']['template'] = 'order-confirmed'): RecordDelivery => ({
  type: 'RecordDelivery',
  data: { orderId, emailId, to: 'alice@example.com', template, subject: 'Your order order-1 is confirmed', body: 'Thank you', result },
});
const sent: EmailEvent = {
  type: 'EmailSent',
  data: { orderId, emailId, to: 'alice@example.com', template: 'order-confirmed', subject: 'Your order order-1 is confirmed', body: 'Thank you', attempts: 1 },
};
const failed: EmailEvent = {
  type: 'EmailFailed',
  data: { orderId, emailId, to: 'alice@example.com', template: 'order-confirmed', error: 'mailbox unavailable', attempts: 3 },
};

describe('email', () => {
  it('a delivered email is recorded with its subject and body, which the mailbox shows', () =>
    given([]).when(delivery({ outcome: 'sent', attempts: 1 })).then([sent]));

  it('an email that failed every try is recorded as failed with the last error', () =>
    given([]).when(delivery({ outcome: 'failed', error: 'mailbox unavailable', attempts: 3 })).then([failed]));

  it('an order gets each kind of email once', () =>
    given([sent]).when(delivery({ outcome: 'sent', attempts: 1 })).thenIgnored('AlreadySent'));

  it('a failed email may be sent by a later command', () =>
    given([failed]).when(delivery({ outcome: 'sent', attempts: 1 })).then([sent]));

  it('another kind of email for the same order still goes out', () =>
    given([sent])
      .when(delivery({ outcome: 'sent', attempts: 2 }, 'order-cancelled'))
      .then([{ type: 'EmailSent', data: { ...sent.data, template: 'order-cancelled', attempts: 2 } as never }]));

  it('remembers what was sent and the last failure', () => {
    given([sent]).thenState({ status: 'sent', sent: ['order-confirmed'], lastEmailId: 'e1' });
    given([failed]).thenState({ status: 'failed', sent: [], lastEmailId: 'e1', failedTemplate: 'order-confirmed', error: 'mailbox unavailable' });
  });
});
