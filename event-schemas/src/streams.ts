/**
 * Stream and topic names. A stream id is `<category>-<id>`; the category is everything
 * before the first dash, as in EventStoreDB's `$ce-` convention.
 */
export const categories = ['order', 'inventory', 'payment', 'email', 'saga'] as const;
export type Category = (typeof categories)[number];

export const streamIdFor = {
  order: (orderId: string) => `order-${orderId}`,
  /** All stock lives in one aggregate so an order's items are reserved all-or-none in one append. */
  inventory: () => 'inventory-warehouse',
  payment: (orderId: string) => `payment-${orderId}`,
  email: (orderId: string) => `email-${orderId}`,
  saga: (orderId: string) => `saga-${orderId}`,
} as const;

export function categoryOf(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash < 0 ? streamId : streamId.slice(0, dash);
}

export function idOf(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash < 0 ? '' : streamId.slice(dash + 1);
}

/** Every category's events are published to one topic, keyed by stream id. */
export const eventTopic = (category: string) => `events.${category}`;

/** Each command service consumes its own command topic, keyed by order id. */
export const commandTopics = {
  order: 'commands.order',
  inventory: 'commands.inventory',
  payment: 'commands.payment',
  email: 'commands.email',
} as const;
export type CommandTopic = (typeof commandTopics)[keyof typeof commandTopics];

export const deadLetterTopic = (topic: string) => `${topic}.dlq`;
