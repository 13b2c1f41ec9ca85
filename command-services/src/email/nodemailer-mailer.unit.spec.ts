import { describe, expect, it } from 'vitest';
import { MailDeliveryError } from './mailer';
import { createNodemailerMailer } from './nodemailer-mailer';

describe('nodemailer mailer without SMTP (JSON transport)', () => {
  it('builds and accepts the message', async () => {
    const { messageId } = await createNodemailerMailer().send({ to: 'alice@example.com', subject: 'Hi', text: 'Hello' });
    expect(messageId).toMatch(/^<.+@.+>$/);
  });

  it('recipients at fail.test always fail', async () => {
    await expect(createNodemailerMailer().send({ to: 'bob@fail.test', subject: 'Hi', text: 'Hello' })).rejects.toBeInstanceOf(MailDeliveryError);
  });
});
