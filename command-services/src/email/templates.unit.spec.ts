import { describe, expect, it } from 'vitest';
import { renderEmail } from './templates';

describe('email templates', () => {
  it('the confirmation names the order, the items and the amount charged', () => {
    expect(renderEmail('order-confirmed', { orderId: 'o-1', total: 4900, currency: 'EUR', items: 2 })).toEqual({
      subject: 'Your order o-1 is confirmed',
      body: 'Thank you for your order.\n\nOrder: o-1\nItems: 2\nTotal charged: 49.00 EUR\n\nWe will let you know when it ships.',
    });
  });

  it('the rejection and the cancellation give the reason', () => {
    expect(renderEmail('order-rejected', { orderId: 'o-1', reason: 'payment declined' })).toEqual({
      subject: 'Your order o-1 could not be completed',
      body: 'We are sorry: we could not complete your order.\n\nOrder: o-1\nReason: payment declined\n\nNothing was charged, or any charge has been refunded.',
    });
    expect(renderEmail('order-cancelled', { orderId: 'o-1', reason: 'cancelled by the customer' })).toEqual({
      subject: 'Your order o-1 is cancelled',
      body: 'Your order has been cancelled.\n\nOrder: o-1\nReason: cancelled by the customer\n\nAny payment has been refunded.',
    });
  });
});
