import { describe, it, expect } from 'vitest';
import { adaptDefinition, DefinitionError, drawn, edgeLabel, findEdge, labelOf, resolveState } from './definition';

/** A slice of what saga-orchestrator/src/export.ts serves at GET /api/saga-definition. */
const exported = {
  id: 'orderSaga',
  initial: 'reservingStock',
  stepTimeoutMs: 30000,
  states: [
    { name: 'reservingStock', kind: 'step', status: 'running', step: 'reserveStock', command: 'ReserveStock', pivot: false, timeout: { delayMs: 30000, onTimeout: 'fail' } },
    { name: 'confirmingOrder', kind: 'step', status: 'running', step: 'confirmOrder', command: 'ConfirmOrder', pivot: true, timeout: { delayMs: 30000, onTimeout: 'retry' } },
    { name: 'rejectingOrder', kind: 'compensation', status: 'running', step: 'rejectOrder', command: 'RejectOrder', pivot: false, timeout: null },
    { name: 'rejected', kind: 'end', status: 'rejected', step: null, command: null, pivot: false, timeout: null },
  ],
  transitions: [
    { source: 'reservingStock', event: 'StockReserved', target: 'confirmingOrder', guard: null, actions: [], commands: ['ConfirmOrder'], kind: 'forward' },
    { source: 'reservingStock', event: 'StockReservationFailed', target: 'rejectingOrder', guard: null, actions: [], commands: ['RejectOrder'], kind: 'compensation' },
    { source: 'reservingStock', event: 'OrderCancellationRequested', target: 'rejectingOrder', guard: null, actions: [], commands: ['RejectOrder'], kind: 'compensation' },
    { source: 'reservingStock', event: 'StepTimedOut', target: 'rejectingOrder', guard: 'timerDue', actions: [], commands: ['RejectOrder'], kind: 'timeout' },
    { source: 'confirmingOrder', event: 'StepTimedOut', target: null, guard: 'timerDue', actions: ['retryStep'], commands: ['ConfirmOrder'], kind: 'retry' },
    { source: 'rejectingOrder', event: 'OrderRejected', target: 'rejected', guard: null, actions: [], commands: [], kind: 'forward' },
    { source: '*', event: 'PaymentCaptured', target: null, guard: 'unwantedCapture', actions: [], commands: ['RefundPayment'], kind: 'late-compensation' },
  ],
  steps: [
    { step: 'reserveStock', state: 'reservingStock', command: 'ReserveStock', success: 'StockReserved', failure: 'StockReservationFailed', compensation: 'releaseStock', onTimeout: 'fail' },
    { step: 'refundLateCapture', state: null, command: 'RefundPayment', success: null, failure: null, compensation: null, onTimeout: null },
  ],
};

describe('adaptDefinition', () => {
  const graph = adaptDefinition(exported);

  it("reads the orchestrator's states: kinds, end statuses, timeouts and what firing them does", () => {
    expect(graph.id).toBe('orderSaga');
    expect(graph.initial).toBe('reservingStock');
    expect(graph.stepTimeoutMs).toBe(30000);
    expect(graph.nodes).toEqual([
      {
        id: 'reservingStock',
        label: 'reserving stock',
        kind: 'initial',
        timeoutMs: 30000,
        onTimeout: 'fail',
        command: 'ReserveStock',
        description: 'sends ReserveStock; on timeout: fail',
      },
      {
        id: 'confirmingOrder',
        label: 'confirming order',
        kind: 'step',
        timeoutMs: 30000,
        onTimeout: 'retry',
        command: 'ConfirmOrder',
        pivot: true,
        description: 'sends ConfirmOrder; pivot: no compensation after it; on timeout: retry',
      },
      { id: 'rejectingOrder', label: 'rejecting order', kind: 'compensation', command: 'RejectOrder', description: 'sends RejectOrder' },
      { id: 'rejected', label: 'rejected', kind: 'final', status: 'rejected' },
    ]);
  });

  it('merges parallel edges of one kind, keeps timeouts apart, and turns null targets into stays', () => {
    expect(graph.edges).toEqual([
      { id: 'reservingStock->confirmingOrder:forward:0', source: 'reservingStock', target: 'confirmingOrder', events: ['StockReserved'], kind: 'forward', commands: ['ConfirmOrder'] },
      {
        id: 'reservingStock->rejectingOrder:compensation:1',
        source: 'reservingStock',
        target: 'rejectingOrder',
        events: ['StockReservationFailed', 'OrderCancellationRequested'],
        kind: 'compensation',
        commands: ['RejectOrder'],
      },
      {
        id: 'reservingStock->rejectingOrder:timeout:2',
        source: 'reservingStock',
        target: 'rejectingOrder',
        events: ['StepTimedOut'],
        guard: 'timerDue',
        kind: 'timeout',
        commands: ['RejectOrder'],
      },
      { id: 'confirmingOrder->confirmingOrder:retry:3', source: 'confirmingOrder', target: 'confirmingOrder', events: ['StepTimedOut'], guard: 'timerDue', kind: 'retry', commands: ['ConfirmOrder'] },
      { id: 'rejectingOrder->rejected:forward:4', source: 'rejectingOrder', target: 'rejected', events: ['OrderRejected'], kind: 'forward', commands: [] },
      { id: '*->*:late-compensation:5', source: '*', target: '*', events: ['PaymentCaptured'], guard: 'unwantedCapture', kind: 'late-compensation', commands: ['RefundPayment'] },
    ]);
    expect(graph.edges.filter(drawn).map((e) => e.kind)).toEqual(['forward', 'compensation', 'timeout', 'forward']);
    expect(edgeLabel(graph.edges[1]!)).toBe('StockReservationFailed / OrderCancellationRequested');
    expect(edgeLabel(graph.edges[2]!)).toBe('StepTimedOut [timerDue]');
  });

  it('reads the step table', () => {
    expect(graph.steps).toEqual([
      { name: 'reserveStock', state: 'reservingStock', command: 'ReserveStock', success: 'StockReserved', failure: 'StockReservationFailed', compensation: 'releaseStock', onTimeout: 'fail' },
      { name: 'refundLateCapture', command: 'RefundPayment' },
    ]);
  });

  it('finds the edge a history entry took: exact event, a late compensation when the saga stayed, else any edge between the two', () => {
    expect(findEdge(graph, 'reservingStock', 'rejectingOrder', 'OrderCancellationRequested')?.kind).toBe('compensation');
    expect(findEdge(graph, 'reservingStock', 'rejectingOrder', 'StepTimedOut')?.kind).toBe('timeout');
    expect(findEdge(graph, 'confirmingOrder', 'confirmingOrder', 'StepTimedOut')?.kind).toBe('retry');
    expect(findEdge(graph, 'confirmingOrder', 'confirmingOrder', 'PaymentCaptured')?.kind).toBe('late-compensation');
    expect(findEdge(graph, 'reservingStock', 'rejectingOrder', 'Unknown')?.kind).toBe('compensation');
    expect(findEdge(graph, 'rejected', 'reservingStock', 'X')).toBeUndefined();
  });

  it('also takes the simpler shape: ids, type final, states keyed by id, compensation flags', () => {
    const g = adaptDefinition({
      initial: 'a',
      states: { a: {}, b: { type: 'final' } },
      transitions: [
        { source: 'a', target: 'b', event: 'GO', compensation: true },
        { source: 'a', target: 'c', event: 'x', delay: 1000 },
      ],
    });
    expect(g.nodes.map((n) => [n.id, n.kind])).toEqual([
      ['a', 'initial'],
      ['b', 'final'],
      ['c', 'step'],
    ]);
    expect(g.edges.map((e) => e.kind)).toEqual(['compensation', 'timeout']);
  });

  it('refuses a definition without states', () => {
    expect(() => adaptDefinition({ id: 'x', states: [] })).toThrow(DefinitionError);
    expect(() => adaptDefinition('nope')).toThrow(DefinitionError);
  });

  it('resolves dotted state names to their node and humanises ids', () => {
    expect(resolveState(graph, 'orderSaga.confirmingOrder')).toBe('confirmingOrder');
    expect(resolveState(graph, 'elsewhere')).toBeUndefined();
    expect(labelOf('sendingConfirmationEmail')).toBe('sending confirmation email');
  });
});
