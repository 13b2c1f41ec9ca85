import type { Transporter } from 'nodemailer';
import { MailDeliveryError, type Mailer } from './mailer';

export interface NodemailerMailerOptions {
  /** SMTP server (e.g. Mailpit in compose). Absent: nodemailer's JSON transport, nothing leaves the process. */
  smtpUrl?: string;
  from?: string;
}

/** Recipients at this domain always fail, so tests can drive the failure path as test cards drive payment's. */
export const FAILING_DOMAIN = 'fail.test';

/**
 * Sends through nodemailer. In embedded mode the JSON transport builds the message without
 * sending it: the mailbox read model shows it from the EmailSent event (subject and body).
 * nodemailer (400 kB of JavaScript) is loaded at the first message, not when the process starts.
 */
export function createNodemailerMailer(options: NodemailerMailerOptions = {}): Mailer {
  let transporter: Promise<Transporter> | undefined;
  const transport = () =>
    (transporter ??= import('nodemailer').then(({ default: nodemailer }) =>
      options.smtpUrl ? nodemailer.createTransport(options.smtpUrl) : nodemailer.createTransport({ jsonTransport: true }),
    ));
  const from = options.from ?? 'Order Saga <orders@order-saga.local>';
  return {
    async send({ to, subject, text }) {
      if (to.toLowerCase().endsWith(`@${FAILING_DOMAIN}`)) throw new MailDeliveryError(`simulated delivery failure to ${to}`);
      try {
        const info = await (await transport()).sendMail({ from, to, subject, text });
        return { messageId: String(info.messageId) };
      } catch (error) {
        throw new MailDeliveryError(error instanceof Error ? error.message : String(error));
      }
    },
  };
}
