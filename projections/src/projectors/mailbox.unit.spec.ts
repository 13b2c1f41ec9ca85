import { describe, expect, it } from 'vitest';
import { record, type StoryEvent } from './fixtures';
import { mailboxProjection } from './mailbox';
import { given } from './projection';

const at = (s: number) => new Date(Date.parse('2026-01-01T10:00:00.000Z') + s * 1000).toISOString();
const email = (type: 'EmailSent' | 'EmailFailed', extra: Record<string, unknown>, second: number): StoryEvent => ({
  streamId: 'email-o1',
  event: {
    type,
    data: { orderId: 'o1', emailId: 'mail-o1', to: 'Alice@Example.com', template: 'order-confirmed', attempts: 1, ...extra },
  } as never,
  at: at(second),
  correlationId: 'o1',
});

describe('mailbox projection', () => {
  it('keeps the email that went out after a failed attempt, addressed case-insensitively', () => {
    const events = record([
      email('EmailFailed', { error: 'smtp down', attempts: 1 }, 0),
      email('EmailSent', { subject: 'Your order is confirmed', body: 'Thanks!', attempts: 2 }, 5),
    ]);
    expect(given(mailboxProjection).when(...events).documents()).toEqual({
      'mail-o1': {
        id: 'mail-o1',
        emailId: 'mail-o1',
        orderId: 'o1',
        to: 'Alice@Example.com',
        recipient: 'alice@example.com',
        template: 'order-confirmed',
        subject: 'Your order is confirmed',
        body: 'Thanks!',
        status: 'sent',
        error: null,
        attempts: 2,
        sentAt: at(5),
        at: at(5),
        _applied: [{ s: 'email-o1', r: 1 }],
      },
    });
  });

  it('shows an email given up on as failed', () => {
    const events = record([email('EmailFailed', { error: 'mailbox full', attempts: 5 }, 0)]);
    expect(given(mailboxProjection).when(...events).documents()['mail-o1']).toMatchObject({
      status: 'failed',
      error: 'mailbox full',
      subject: null,
      sentAt: null,
      attempts: 5,
    });
  });

  it('does not let a redelivered failure overwrite the sent email', () => {
    const events = record([
      email('EmailFailed', { error: 'smtp down', attempts: 1 }, 0),
      email('EmailSent', { subject: 'S', body: 'B', attempts: 2 }, 5),
    ]);
    expect(given(mailboxProjection, events).when(events[0]!).documents()['mail-o1']).toMatchObject({ status: 'sent', error: null });
  });
});
