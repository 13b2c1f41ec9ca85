import type { EmailTemplate } from '@saga/event-schemas/email';

export type TemplateData = Record<string, string | number>;

export interface RenderedEmail {
  subject: string;
  body: string;
}

/** Minor units to a readable amount, e.g. 4900 EUR -> "49.00 EUR". */
const money = (amount: string | number | undefined, currency: string | number | undefined) =>
  typeof amount === 'number' ? `${(amount / 100).toFixed(2)} ${currency ?? ''}`.trim() : String(amount ?? '');

/** The three order emails. Pure: what they say depends only on the template and its data. */
export function renderEmail(template: EmailTemplate, data: TemplateData): RenderedEmail {
  const orderId = String(data.orderId ?? '');
  switch (template) {
    case 'order-confirmed':
      return {
        subject: `Your order ${orderId} is confirmed`,
        body: [
          'Thank you for your order.',
          '',
          `Order: ${orderId}`,
          ...(data.items === undefined ? [] : [`Items: ${data.items}`]),
          ...(data.total === undefined ? [] : [`Total charged: ${money(data.total, data.currency)}`]),
          '',
          'We will let you know when it ships.',
        ].join('\n'),
      };
    case 'order-rejected':
      return {
        subject: `Your order ${orderId} could not be completed`,
        body: [
          'We are sorry: we could not complete your order.',
          '',
          `Order: ${orderId}`,
          `Reason: ${data.reason ?? 'unspecified'}`,
          '',
          'Nothing was charged, or any charge has been refunded.',
        ].join('\n'),
      };
    case 'order-cancelled':
      return {
        subject: `Your order ${orderId} is cancelled`,
        body: [
          'Your order has been cancelled.',
          '',
          `Order: ${orderId}`,
          `Reason: ${data.reason ?? 'unspecified'}`,
          '',
          'Any payment has been refunded.',
        ].join('\n'),
      };
    default: {
      const unreachable: never = template;
      throw new Error(`unknown email template ${String(unreachable)}`);
    }
  }
}
