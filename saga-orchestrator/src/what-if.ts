import type { RecordedEvent } from '@saga/event-schemas/envelope';
import type { EventData } from '@saga/event-schemas/catalog';
import { buildSagaMachine, commandsOf, type SagaContext, type SagaEvent, type SagaInput, type SagaMachine } from './machine';
import { createSagaStepper, type SagaStepper } from './stepper';
import { sagaSteps, stepNamed, type SagaStep, type StepName, type StepTable } from './steps';
import type { StepRow } from './export';

/**
 * What-if: the inputs a saga recorded (each with the times it carried), fed in order to another
 * definition, purely: nothing is sent or stored. The answer is both paths and where they part.
 * Timers are inputs like any other: a recorded `StepTimedOut` is replayed at its time, and
 * under a definition whose deadline differs the `timerDue` guard decides what it means.
 */
export interface PathStep {
  state: string;
  /** The input that led here (`OrderPlaced` for the start, `SagaMigrated` for a migration). */
  input: string;
  at: string;
}

export interface ReplayedCommand {
  /** Index in `replayed` of the step that issued it. */
  at: number;
  step: StepName;
  type: string;
  data: Record<string, unknown>;
}

export interface WhatIf {
  original: PathStep[];
  replayed: PathStep[];
  /** The first index where the paths differ (state or input), or null when they are the same. */
  divergesAt: number | null;
  commands: ReplayedCommand[];
}

export type WhatIfResult = { ok: true; answer: WhatIf } | { ok: false; reason: string };

type Started = EventData<'SagaStarted'>;
type Transitioned = EventData<'SagaTransitioned'>;

/** The saga's recorded path, as its stream tells it. */
export function recordedPath(stream: readonly RecordedEvent[]): PathStep[] {
  const path: PathStep[] = [];
  for (const e of stream) {
    if (e.type === 'SagaStarted') path.push({ state: e.data.state, input: 'OrderPlaced', at: e.data.at });
    else if (e.type === 'SagaTransitioned') path.push({ state: e.data.to, input: e.data.input.type, at: atOf(e.data) });
    else if (e.type === 'SagaMigrated') path.push({ state: e.data.to, input: 'SagaMigrated', at: e.data.at });
  }
  return path;
}

const atOf = (d: Transitioned) => (typeof d.input.event?.at === 'string' ? d.input.event.at : d.at);

/** Replays a saga stream's inputs against `machine`. Refused when the stream did not keep its inputs whole. */
export function whatIf(stream: readonly RecordedEvent[], machine: SagaMachine, stepper: SagaStepper = createSagaStepper(machine)): WhatIfResult {
  const started = stream.find((e) => e.type === 'SagaStarted');
  if (!started || started.type !== 'SagaStarted') return { ok: false, reason: 'the saga has no SagaStarted event' };
  const inputs: SagaEvent[] = [];
  for (const e of stream) {
    if (e.type !== 'SagaTransitioned') continue;
    if (!e.data.input.event) return { ok: false, reason: `input ${e.data.input.eventId} (${e.data.input.type}) was recorded before inputs were kept whole; it cannot be replayed` };
    inputs.push({ ...e.data.input.event, type: e.data.input.type } as SagaEvent);
  }
  const [first, firstActions] = stepper.initial(sagaInputOf(started.data));
  let snapshot = first;
  const replayed: PathStep[] = [{ state: String(first.value), input: 'OrderPlaced', at: started.data.at }];
  const commands: ReplayedCommand[] = issued(0, firstActions);
  for (const input of inputs) {
    const [next, actions] = stepper.next(snapshot, input);
    const sent = commandsOf(actions);
    // As the runtime does: an input that changes nothing is not a step of the path.
    if (next === snapshot && sent.length === 0) continue;
    snapshot = next;
    replayed.push({ state: String(next.value), input: input.type, at: input.at });
    commands.push(...issued(replayed.length - 1, actions));
  }
  const original = recordedPath(stream);
  return { ok: true, answer: { original, replayed, divergesAt: divergence(original, replayed), commands } };
}

function issued(at: number, actions: Parameters<typeof commandsOf>[0]): ReplayedCommand[] {
  return commandsOf(actions).map(({ step, command }) => ({ at, step, type: command.type, data: command.data as Record<string, unknown> }));
}

export function divergence(a: readonly PathStep[], b: readonly PathStep[]): number | null {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i]?.state !== b[i]?.state || a[i]?.input !== b[i]?.input) return i;
  return null;
}

/** The saga's facts, as it started: SagaStarted's context holds them all. */
function sagaInputOf(started: Started): SagaInput {
  const c = started.context as unknown as SagaContext;
  return {
    orderId: c.orderId,
    customerEmail: c.customerEmail,
    items: c.items,
    total: c.total,
    currency: c.currency,
    paymentToken: c.paymentToken,
    stepTimeoutMs: c.stepTimeoutMs,
    startedAt: c.startedAt,
  };
}

/**
 * A definition given as data (a step table, as `GET /api/saga-definition` shows it): each row's
 * columns are taken as given, its command builder from the known step of that name (builders
 * are code). Throws with the reason when the table does not make a machine.
 */
export type RowData = { step: string; compensation?: string | null; onTimeout?: string | null; lateSuccess?: string | null } & Partial<
  Pick<StepRow, 'retriesBeforeFail' | 'pivot' | 'skippable'>
>;

export function machineOfRows(rows: readonly RowData[]): SagaMachine {
  const stepName = (name: string | null | undefined, what: string): StepName | null | undefined => {
    if (name === undefined || name === null) return name;
    if (!sagaSteps.some((s) => s.step === name)) throw new Error(`${what} '${name}' is not a known step`);
    return name as StepName;
  };
  const table: SagaStep[] = rows.map((row) => {
    const known = sagaSteps.find((s) => s.step === row.step);
    if (!known) throw new Error(`unknown step '${row.step}'`);
    if (row.onTimeout !== undefined && row.onTimeout !== null && !['fail', 'retry', 'flag'].includes(row.onTimeout)) {
      throw new Error(`${row.step}: onTimeout must be fail, retry or flag`);
    }
    const compensation = stepName(row.compensation, `${row.step}: compensation`);
    const lateSuccess = stepName(row.lateSuccess, `${row.step}: lateSuccess`);
    return {
      ...known,
      ...(compensation !== undefined ? { compensation } : {}),
      ...(row.onTimeout !== undefined ? { onTimeout: row.onTimeout as SagaStep['onTimeout'] } : {}),
      ...(row.retriesBeforeFail !== undefined ? { retriesBeforeFail: row.retriesBeforeFail } : {}),
      ...(row.skippable !== undefined ? { skippable: row.skippable } : {}),
      ...(row.pivot !== undefined ? { pivot: row.pivot } : {}),
      ...(lateSuccess !== undefined ? { lateSuccess: lateSuccess ?? undefined } : {}),
    } as SagaStep;
  });
  checkTable(table);
  return buildSagaMachine(table);
}

/** The rules a table must keep for the machine built from it to make sense. */
function checkTable(table: StepTable): void {
  const names = new Set(table.map((r) => r.step));
  for (const r of table) {
    if (r.compensation && !names.has(r.compensation)) throw new Error(`${r.step}: compensation '${r.compensation}' is not a step of the table`);
    if (r.compensation && stepNamed(r.compensation, table).kind !== 'undo') throw new Error(`${r.step}: compensation '${r.compensation}' is not a compensating step`);
    if (r.lateSuccess && (!names.has(r.lateSuccess) || stepNamed(r.lateSuccess, table).kind !== 'late')) throw new Error(`${r.step}: lateSuccess '${r.lateSuccess}' is not a late-undo step`);
    if (r.onTimeout === 'fail' && !r.timedOut) throw new Error(`${r.step}: only a step that may fail (reserveStock, chargePayment) can fail on timeout`);
    if (r.state !== null && r.onTimeout === null) throw new Error(`${r.step}: a waiting step needs onTimeout`);
  }
  const undos = table.flatMap((r) => (r.compensation ? [r.compensation] : []));
  if (new Set(undos).size !== undos.length) throw new Error('each compensating step undoes one forward step only');
  for (const required of ['rejectOrder', 'cancelOrder', 'sendRejectionEmail', 'sendCancellationEmail'] as const) {
    if (!names.has(required)) throw new Error(`the table needs the '${required}' step`);
  }
  if (table.filter((r) => r.kind === 'forward' && r.pivot).length !== 1) throw new Error('the table needs exactly one pivot among its forward steps');
}
