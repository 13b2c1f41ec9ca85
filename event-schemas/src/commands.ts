import { z } from 'zod';
import { Amount, CommandId, Currency, Email, LineItem, OrderId } from './ids';
import { EmailTemplate } from './email';
import { commandTopics, type CommandTopic } from './streams';

/**
 * Commands the saga sends to the services over their command topics. Each carries a
 * deterministic `commandId` (derived from the saga and step), so a redelivered or
 * re-sent command is recognised by its receiver and changes nothing.
 */
export const ReserveStock = z.strictObject({ orderId: OrderId, items: z.array(LineItem).min(1) });
export const ReleaseStock = z.strictObject({ orderId: OrderId });
export const CommitStock = z.strictObject({ orderId: OrderId });
export const ChargePayment = z.strictObject({ orderId: OrderId, amount: Amount, currency: Currency, paymentToken: z.string().min(1) });
export const RefundPayment = z.strictObject({ orderId: OrderId, reason: z.string().min(1).max(500) });
export const ConfirmOrder = z.strictObject({ orderId: OrderId });
export const RejectOrder = z.strictObject({ orderId: OrderId, reason: z.string().min(1).max(500) });
export const CancelOrder = z.strictObject({ orderId: OrderId, reason: z.string().min(1).max(500) });
export const SendEmail = z.strictObject({
  orderId: OrderId,
  to: Email,
  template: EmailTemplate,
  /** Values the template shows: order total, reason, items... */
  data: z.record(z.string(), z.union([z.string(), z.number()])),
});

export const commandCatalog = {
  ReserveStock: { schema: ReserveStock, topic: commandTopics.inventory },
  ReleaseStock: { schema: ReleaseStock, topic: commandTopics.inventory },
  CommitStock: { schema: CommitStock, topic: commandTopics.inventory },
  ChargePayment: { schema: ChargePayment, topic: commandTopics.payment },
  RefundPayment: { schema: RefundPayment, topic: commandTopics.payment },
  ConfirmOrder: { schema: ConfirmOrder, topic: commandTopics.order },
  RejectOrder: { schema: RejectOrder, topic: commandTopics.order },
  CancelOrder: { schema: CancelOrder, topic: commandTopics.order },
  SendEmail: { schema: SendEmail, topic: commandTopics.email },
} as const satisfies Record<string, { schema: z.ZodType; topic: CommandTopic }>;

export type CommandType = keyof typeof commandCatalog;
export type CommandData<T extends CommandType> = z.infer<(typeof commandCatalog)[T]['schema']>;
export type SagaCommand = { [T in CommandType]: { type: T; data: CommandData<T> } }[CommandType];

export const CommandMetadata = z.strictObject({
  correlationId: z.string().min(1),
  causationId: z.string().min(1),
  userId: z.string().optional(),
  issuedAt: z.iso.datetime(),
});
export type CommandMetadata = z.infer<typeof CommandMetadata>;

/** The wire form of a command on a command topic (the message key is the order id). */
export const CommandEnvelope = z.strictObject({
  commandId: CommandId,
  type: z.enum(Object.keys(commandCatalog) as [CommandType, ...CommandType[]]),
  data: z.unknown(),
  metadata: CommandMetadata,
});
export type CommandEnvelope<T extends CommandType = CommandType> = {
  commandId: string;
  type: T;
  data: CommandData<T>;
  metadata: CommandMetadata;
};

/** Validates a command envelope and its payload against the catalog. */
export function parseCommand(input: unknown): CommandEnvelope {
  const envelope = CommandEnvelope.parse(input);
  const data = commandCatalog[envelope.type].schema.parse(envelope.data);
  return { ...envelope, data } as CommandEnvelope;
}

export const commandTopicOf = (type: CommandType): CommandTopic => commandCatalog[type].topic;
