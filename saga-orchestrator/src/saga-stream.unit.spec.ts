import { describe, it, expect } from 'vitest';
import { initialTransition, transition } from 'xstate';
import type { NewEvent, RecordedEvent } from '@saga/event-schemas/envelope';
import type { LineItem, OrderId } from '@saga/event-schemas/ids';
import { validateEvent } from '@saga/event-schemas/catalog';
import { deterministicId } from '@saga/platform/ids';
import { commandsOf, sagaMachine, type SagaInput } from './machine';
import { foldSaga, issuedCommands, migratedEvent, startedEvents, transitionEvents } from './saga-stream';
import { planMigration, versionOrThrow } from './definitions';
import { commandMessagesOf } from './dispatcher';
import { sagaInputOf } from './inputs';

const orderId = 'ord-7' as OrderId;
const input: SagaInput = {
  orderId,
  customerEmail: 'bob@example.com',
  items: [{ sku: 'MUG-001', quantity: 1 }] as LineItem[],
  total: 1200,
  currency: 'EUR',
  paymentToken: 'tok',
  stepTimeoutMs: 1000,
  startedAt: '2026-01-01T00:00:00.000Z',
};

/** Stores new events as the store would: revisions from 0, opaque sparse positions. */
const record = (events: NewEvent[], from = 0): RecordedEvent[] =>
  events.map((e, i) => ({
    ...e,
    streamId: `saga-${orderId}`,
    revision: from + i,
    position: String((100 + from + i) * 10).padStart(16, '0'),
    metadata: { ...e.metadata, schemaVersion: 1, occurredAt: e.metadata.occurredAt ?? input.startedAt },
  })) as unknown as RecordedEvent[];

describe('the saga stream', () => {
  const [s0, a0] = initialTransition(sagaMachine, input);
  const started = startedEvents(orderId, 'placed-1', s0, issuedCommands(orderId, commandsOf(a0)), input.startedAt);
  const [s1, a1] = transition(sagaMachine, s0, { type: 'StockReservationFailed', reason: 'none left', at: '2026-01-01T00:00:01.000Z' });
  const stream0 = record(started);
  const folded0 = foldSaga(orderId, stream0)!;
  const moved = transitionEvents(folded0, { type: 'StockReservationFailed', eventId: 'fail-1' }, s1, issuedCommands(orderId, commandsOf(a1)), '2026-01-01T00:00:01.000Z');

  it('records the start with the issued command, its deterministic id, and the deadline', () => {
    expect(started).toEqual([
      {
        eventId: deterministicId('saga', orderId, 'placed-1', 0),
        type: 'SagaStarted',
        data: {
          orderId,
          inputEventId: 'placed-1',
          state: 'reservingStock',
          context: s0.context,
          commands: [
            { commandId: deterministicId(orderId, 'reserveStock', 'ReserveStock'), step: 'reserveStock', type: 'ReserveStock', data: { orderId, items: input.items } },
          ],
          timer: { step: 'reserveStock', dueAt: '2026-01-01T00:00:01.000Z' },
          at: input.startedAt,
          version: 1,
        },
        metadata: { correlationId: orderId, causationId: 'placed-1', occurredAt: input.startedAt },
      },
    ]);
    expect(() => validateEvent('SagaStarted', started[0]!.data)).not.toThrow();
  });

  it('records a transition, and SagaEnded with it only when the saga reaches an ending', () => {
    expect(moved.map((e) => e.type)).toEqual(['SagaTransitioned']);
    expect(moved[0]!.data).toMatchObject({ from: 'reservingStock', to: 'rejectingOrder', status: 'running', input: { type: 'StockReservationFailed', eventId: 'fail-1' } });
    expect(() => validateEvent('SagaTransitioned', moved[0]!.data)).not.toThrow();

    const folded1 = foldSaga(orderId, [...stream0, ...record(moved, 1)])!;
    const [s2] = transition(sagaMachine, folded1.snapshot, { type: 'OrderRejected', at: '2026-01-01T00:00:02.000Z' });
    const [s3] = transition(sagaMachine, s2, { type: 'EmailSent', at: '2026-01-01T00:00:03.000Z' });
    const folded2 = { ...folded1, state: String(s2.value), snapshot: s2 };
    const ending = transitionEvents(folded2, { type: 'EmailSent', eventId: 'mail-1' }, s3, [], '2026-01-01T00:00:03.000Z');
    expect(ending.map((e) => e.type)).toEqual(['SagaTransitioned', 'SagaEnded']);
    expect(ending[1]!.data).toEqual({
      orderId,
      status: 'rejected',
      flags: [],
      startedAt: input.startedAt,
      endedAt: '2026-01-01T00:00:03.000Z',
      durationMs: 3000,
    });
    expect(() => validateEvent('SagaEnded', ending[1]!.data)).not.toThrow();
  });

  it('folds back to the same machine state, revision and applied inputs', () => {
    const folded = foldSaga(orderId, [...stream0, ...record(moved, 1)])!;
    expect(folded.state).toBe('rejectingOrder');
    expect(folded.revision).toBe(1);
    expect(folded.snapshot.value).toBe('rejectingOrder');
    expect(folded.snapshot.context).toEqual(s1.context);
    expect([...folded.seen]).toEqual(['placed-1', 'fail-1']);
    expect(foldSaga(orderId, [])).toBeNull();
  });

  it('turns a recorded transition into the command messages the dispatcher publishes', () => {
    const [recorded] = record(moved, 1);
    expect(commandMessagesOf(recorded!)).toEqual([
      {
        topic: 'commands.order',
        message: {
          key: orderId,
          value: JSON.stringify({
            commandId: deterministicId(orderId, 'rejectOrder', 'RejectOrder'),
            type: 'RejectOrder',
            data: { orderId, reason: 'none left' },
            metadata: { correlationId: orderId, causationId: 'fail-1', issuedAt: '2026-01-01T00:00:01.000Z' },
          }),
        },
      },
    ]);
  });
});

describe('the saga stream records its definition version', () => {
  const v1 = versionOrThrow(1);
  const [s0, a0] = v1.stepper.initial(input);
  const started = record(startedEvents(orderId, 'placed-1', s0, issuedCommands(orderId, commandsOf(a0)), input.startedAt, 1));

  it('a stream recorded before versions (no version in SagaStarted) runs version 1', () => {
    const old = started.map((e) => ({ ...e, data: { ...(e.data as Record<string, unknown>), version: undefined } })) as unknown as RecordedEvent[];
    expect(foldSaga(orderId, old)!.version.version).toBe(1);
  });

  it('keeps the input whole, so a replay can feed it again', () => {
    const event = { type: 'StockReserved', at: '2026-01-01T00:00:00.500Z', recordedAt: '2026-01-01T00:00:00.400Z' } as const;
    const [s1, a1] = v1.stepper.next(s0, event);
    const [moved] = transitionEvents(foldSaga(orderId, started)!, { type: event.type, eventId: 'res-1', event }, s1, issuedCommands(orderId, commandsOf(a1)), event.at);
    expect(moved!.data).toMatchObject({ input: { type: 'StockReserved', eventId: 'res-1', event }, stuck: null });
    expect(() => validateEvent('SagaTransitioned', moved!.data)).not.toThrow();
  });

  it('folds a migration: the saga then runs the newer version, in the mapped state, with its context', () => {
    const folded = foldSaga(orderId, started)!;
    const plan = planMigration(folded.version, folded.state, folded.snapshot.context, 2);
    if (!plan.ok) throw new Error(plan.reason);
    const migrated = migratedEvent(folded, { requestId: 'req-1', toVersion: 2, to: plan.to, operator: 'admin-1', reason: 'roll out v2' }, '2026-01-01T00:00:00.700Z');
    expect(migrated.data).toEqual({
      orderId,
      fromVersion: 1,
      toVersion: 2,
      from: 'reservingStock',
      to: 'reservingStock',
      operator: 'admin-1',
      reason: 'roll out v2',
      at: '2026-01-01T00:00:00.700Z',
    });
    expect(() => validateEvent('SagaMigrated', migrated.data)).not.toThrow();
    const after = foldSaga(orderId, [...started, ...record([migrated], 1)])!;
    expect({ version: after.version.version, state: after.state, revision: after.revision }).toEqual({ version: 2, state: 'reservingStock', revision: 1 });
    expect(after.snapshot.context).toEqual(s0.context);
  });
});

describe('bus events as saga inputs', () => {
  const at = '2026-01-01T00:00:05.000Z';
  const recorded = (type: string, data: Record<string, unknown>, correlationId: string = orderId): RecordedEvent =>
    ({ eventId: `e-${type}`, type, streamId: 'x-1', revision: 0, position: '0000000000000010', data, metadata: { correlationId, causationId: 'c', schemaVersion: 1, occurredAt: at } }) as unknown as RecordedEvent;

  it('starts a saga from OrderPlaced with what the commands need', () => {
    const placed = recorded('OrderPlaced', {
      orderId,
      customerId: 'c-1',
      customerEmail: 'bob@example.com',
      items: [{ sku: 'MUG-001', name: 'Mug', quantity: 1, unitPrice: 1200 }],
      total: 1200,
      currency: 'EUR',
      payment: { method: 'card', token: 'tok', last4: '4242' },
      placedAt: at,
    });
    expect(sagaInputOf(placed, at, 1000)).toEqual({ kind: 'start', orderId, eventId: 'e-OrderPlaced', input: { ...input, startedAt: at } });
  });

  it('feeds replies to the saga of their correlation id, stamped with the time applied and the time recorded', () => {
    const reply = recorded('PaymentDeclined', { orderId, reason: 'card_declined' });
    expect(sagaInputOf(reply, at, 1000)).toEqual({
      kind: 'feed',
      orderId,
      eventId: 'e-PaymentDeclined',
      event: { type: 'PaymentDeclined', reason: 'card_declined', at, recordedAt: reply.metadata.occurredAt },
    });
    expect(sagaInputOf(recorded('OrderCancellationRequested', { orderId, reason: 'oops' }, 'other'), at, 1000)).toMatchObject({
      orderId,
      event: { type: 'OrderCancellationRequested', reason: 'oops', at },
    });
  });

  it('leaves events that are not saga inputs alone', () => {
    expect(sagaInputOf(recorded('PaymentAuthorized', { orderId }), at, 1000)).toEqual({ kind: 'irrelevant', type: 'PaymentAuthorized' });
    expect(sagaInputOf(recorded('ProductAdded', { sku: 'MUG-001' }), at, 1000)).toEqual({ kind: 'irrelevant', type: 'ProductAdded' });
  });
});
