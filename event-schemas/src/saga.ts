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

/**
 * The input a transition applied: a bus event (its event id), a fired timer or an operator's
 * action (derived ids). `event` is the input exactly as the machine got it (its times, reasons,
 * the operator's id), so a what-if replay can feed it to another definition; absent in streams
 * recorded before it was kept.
 */
export const SagaInputRef = z.strictObject({
  type: z.string().min(1),
  eventId: z.string().min(1),
  event: z.record(z.string(), z.unknown()).optional(),
});

/** The saga cannot go on by itself (see saga-orchestrator/src/machine.ts `SagaStuck`). */
export const SagaStuck = z.strictObject({
  step: z.string().min(1),
  reason: z.enum(['dead-lettered', 'retries-exhausted']),
  error: z.string().nullable(),
  since: IsoTime,
});

/** A saga definition version: 1, 2, ... (saga-orchestrator/src/definitions.ts). */
export const SagaVersion = z.int().min(1).max(1_000_000);

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
  /** The definition version the saga runs; absent in streams recorded before versions: 1. */
  version: SagaVersion.optional(),
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
  stuck: SagaStuck.nullable().optional(),
  /** The definition version it was applied under; absent in streams recorded before versions: 1. */
  version: SagaVersion.optional(),
});

/**
 * An operator moved a running saga to a newer definition, in the state the newer one declares
 * for its current state (its context is kept). Inputs after it apply under `toVersion`.
 */
export const SagaMigrated = z.strictObject({
  orderId: OrderId,
  fromVersion: SagaVersion,
  toVersion: SagaVersion,
  from: z.string().min(1),
  to: z.string().min(1),
  operator: z.string().min(1).max(200),
  reason: z.string().max(500),
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

export const sagaEvents = { SagaStarted, SagaTransitioned, SagaEnded, SagaMigrated } as const;

/**
 * What an operator asks of one saga, published on `sagaOperatorTopic` keyed by order id, so the
 * runtime that owns the saga applies it like any other input (and records it in the saga's stream).
 */
export const sagaOperatorTopic = 'commands.saga-operator';
export const OperatorReason = z.string().trim().min(1).max(500);
export const SagaOperatorInput = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('action'),
    requestId: z.string().min(1).max(100),
    orderId: OrderId,
    action: z.enum(['retry-step', 'skip-step', 'compensate']),
    operator: z.string().min(1).max(200),
    reason: OperatorReason,
    at: IsoTime,
  }),
  z.strictObject({
    kind: z.literal('migrate'),
    requestId: z.string().min(1).max(100),
    orderId: OrderId,
    toVersion: SagaVersion,
    operator: z.string().min(1).max(200),
    reason: z.string().max(500),
    at: IsoTime,
  }),
]);
export type SagaOperatorInput = z.infer<typeof SagaOperatorInput>;
