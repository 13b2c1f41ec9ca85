import { describe, it, expect } from 'vitest';
import { adaptDefinition } from './definition';
import { countInstances, instancePath, stateAfter } from './instance';

const graph = adaptDefinition({
  initial: 'reservingStock',
  states: [{ name: 'reservingStock' }, { name: 'chargingPayment' }, { name: 'releasingStock' }, { name: 'rejected', kind: 'end', status: 'rejected' }],
  transitions: [
    { source: 'reservingStock', target: 'chargingPayment', event: 'StockReserved', kind: 'forward' },
    { source: 'chargingPayment', target: 'releasingStock', event: 'PaymentDeclined', kind: 'compensation' },
    { source: 'releasingStock', target: null, event: 'StepTimedOut', kind: 'retry' },
    { source: 'releasingStock', target: 'rejected', event: 'StockReleased', kind: 'forward' },
  ],
});
const [reserved, declined, retried, released] = graph.edges.map((e) => e.id);

/** A saga read model as the sagas projection serves it: the start entry has `from: null`. */
const declinedSaga = {
  orderId: 'o1',
  state: 'rejected',
  status: 'rejected' as const,
  startedAt: '2026-11-22T10:00:00.000Z',
  history: [
    { from: null, to: 'reservingStock', input: { type: 'OrderPlaced', eventId: 'e0' }, at: '2026-11-22T10:00:00.000Z', commands: ['ReserveStock'] },
    { from: 'reservingStock', to: 'chargingPayment', input: { type: 'StockReserved', eventId: 'e1' }, at: '2026-11-22T10:00:00.010Z' },
    { from: 'chargingPayment', to: 'releasingStock', input: { type: 'PaymentDeclined', eventId: 'e2' }, at: '2026-11-22T10:00:00.040Z' },
    { from: 'releasingStock', to: 'releasingStock', input: { type: 'StepTimedOut', eventId: 't1' }, at: '2026-11-22T10:00:01.040Z' },
    { from: 'releasingStock', to: 'rejected', input: { type: 'StockReleased', eventId: 'e3' }, at: '2026-11-22T10:00:01.045Z' },
  ],
};

describe('instancePath', () => {
  it('starts where the start entry points and places each move on its edge with its timings', () => {
    expect(instancePath(graph, declinedSaga)).toEqual({
      start: 'reservingStock',
      startedAt: '2026-11-22T10:00:00.000Z',
      steps: [
        { index: 0, from: 'reservingStock', to: 'chargingPayment', event: 'StockReserved', at: '2026-11-22T10:00:00.010Z', edgeId: reserved, durationMs: 30, elapsedMs: 10 },
        { index: 1, from: 'chargingPayment', to: 'releasingStock', event: 'PaymentDeclined', at: '2026-11-22T10:00:00.040Z', edgeId: declined, durationMs: 1000, elapsedMs: 40 },
        { index: 2, from: 'releasingStock', to: 'releasingStock', event: 'StepTimedOut', at: '2026-11-22T10:00:01.040Z', edgeId: retried, durationMs: 5, elapsedMs: 1040 },
        { index: 3, from: 'releasingStock', to: 'rejected', event: 'StockReleased', at: '2026-11-22T10:00:01.045Z', edgeId: released, elapsedMs: 1045 },
      ],
    });
  });

  it('times a running saga’s last step up to now and leaves unknown moves without an edge', () => {
    const running = {
      state: 'releasingStock',
      status: 'running' as const,
      history: [
        { from: null, to: 'reservingStock', input: 'OrderPlaced', at: '2026-11-22T10:00:00.000Z' },
        { from: 'reservingStock', to: 'releasingStock', input: 'Odd', at: '2026-11-22T10:00:00.500Z' },
      ],
    };
    expect(instancePath(graph, running, Date.parse('2026-11-22T10:00:02.000Z'))).toEqual({
      start: 'reservingStock',
      startedAt: '2026-11-22T10:00:00.000Z',
      steps: [{ index: 0, from: 'reservingStock', to: 'releasingStock', event: 'Odd', at: '2026-11-22T10:00:00.500Z', durationMs: 1500, elapsedMs: 500 }],
    });
  });

  it('replays: the state after k steps', () => {
    const path = instancePath(graph, declinedSaga);
    expect([0, 1, 2, 3, 4, 9].map((k) => stateAfter(path, k))).toEqual(['reservingStock', 'chargingPayment', 'releasingStock', 'releasingStock', 'rejected', 'rejected']);
  });

  it('a saga that has only started is in its start state', () => {
    const path = instancePath(graph, { state: 'reservingStock', status: 'running', history: [declinedSaga.history[0]!] });
    expect(path.steps).toEqual([]);
    expect(stateAfter(path, 0)).toBe('reservingStock');
  });
});

describe('countInstances', () => {
  it('counts instances per current state and traversals per edge, skipping start entries', () => {
    const running = { state: 'chargingPayment', status: 'running' as const, history: declinedSaga.history.slice(0, 2) };
    const counts = countInstances(graph, [declinedSaga, running]);
    expect(counts.total).toBe(2);
    expect([...counts.states]).toEqual([
      ['rejected', 1],
      ['chargingPayment', 1],
    ]);
    expect([...counts.edges]).toEqual([
      [reserved, 2],
      [declined, 1],
      [retried, 1],
      [released, 1],
    ]);
  });
});
