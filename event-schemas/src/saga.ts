import { z } from 'zod';
import { CommandId, IsoTime, OrderId } from './ids';
import type { CommandType } from './commands';

export const SagaStatus = z.enum(['running', 'completed', 'rejected', 'cancelled']);
export type SagaStatus = z.infer<typeof SagaStatus>;

/** A command as the saga issued it: enough to re-send it, byte for byte, after a crash. */
export const IssuedCommand = z.strictObject({
  commandId: CommandId,
  /** The saga step that issued it (see saga-orchestrator/src/steps.ts). */
  step: z.string().min(1),
  type: z.custom<CommandType>((v) => typeof v === 'string'),
  data: z.record(z.string(), z.unknown()),
});

export const SagaTimer = z.strictObject({ step: z.string().min(1), dueAt: IsoTime });

/** The input a transition applied: a bus event (its event id) or a fired timer (a derived id). */
export const SagaInputRef = z.strictObject({ type: z.string().min(1), eventId: z.string().min(1) });

/**
 * The saga began for an order (its first input was OrderPlaced). `context` is the machine's
 * context after the step, so the saga is restored from its last event alone.
 */
export const SagaStarted = z.strictObject({
  orderId: OrderId,
  /** The OrderPlaced event's id. */
  inputEventId: z.string().min(1),
  state: z.string().min(1),
  context: z.record(z.string(), z.unknown()),
  commands: z.array(IssuedCommand),
  timer: SagaTimer.nullable(),
  at: IsoTime,
});

/**
 * One input applied to the saga: the event (or timer) that came in, the state it left and
 * entered, the machine context after it, the commands it issued and the timer armed
 * afterwards. Appended before the commands are dispatched, so a crash between the two
 * re-sends them on restart.
 */
export const SagaTransitioned = z.strictObject({
  orderId: OrderId,
  input: SagaInputRef,
  from: z.string().min(1),
  to: z.string().min(1),
  context: z.record(z.string(), z.unknown()),
  commands: z.array(IssuedCommand),
  timer: SagaTimer.nullable(),
  status: SagaStatus,
  flags: z.array(z.string()),
  at: IsoTime,
});

/** The saga reached an ending state (appended with the transition that reached it). */
export const SagaEnded = z.strictObject({
  orderId: OrderId,
  status: SagaStatus.exclude(['running']),
  flags: z.array(z.string()),
  startedAt: IsoTime,
  endedAt: IsoTime,
  durationMs: z.int().nonnegative(),
});

export const sagaEvents = { SagaStarted, SagaTransitioned, SagaEnded } as const;
