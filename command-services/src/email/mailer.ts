/** What the email service needs of a mail system: send one plain-text message. */
export interface Mailer {
  send(message: MailMessage): Promise<{ messageId: string }>;
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** The message could not be delivered this time; the handler retries with backoff. */
export class MailDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MailDeliveryError';
  }
}
