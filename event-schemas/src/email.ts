import { z } from 'zod';
import { Email, EmailId, OrderId } from './ids';

export const EmailTemplate = z.enum(['order-confirmed', 'order-rejected', 'order-cancelled']);
export type EmailTemplate = z.infer<typeof EmailTemplate>;

export const EmailSent = z.strictObject({
  orderId: OrderId,
  emailId: EmailId,
  to: Email,
  template: EmailTemplate,
  subject: z.string().min(1).max(300),
  body: z.string().max(20_000),
  attempts: z.int().positive(),
});
export const EmailFailed = z.strictObject({
  orderId: OrderId,
  emailId: EmailId,
  to: Email,
  template: EmailTemplate,
  error: z.string().max(2_000),
  attempts: z.int().positive(),
});

export const emailEvents = { EmailSent, EmailFailed } as const;
