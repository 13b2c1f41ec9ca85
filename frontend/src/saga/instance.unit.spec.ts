import { describe, it, expect } from 'vitest';
import { adaptDefinition } from './definition';
import { countInstances, instancePath, stateAfter } from './instance';

const graph = adaptDefinition({
  initial: 'reservingStock',
  states: [{ id: 'reservingStock' }, { id: 'chargingPayment' }, { id: 'releasingStock' }, { id: 'rejected', type: 'final' }],
  transitions: [
    { source: 'reservingStock', target: 'chargingPayment', event: 'StockReserved' },
    { source: 'chargingPayment', target: 'releasingStock', event: 'PaymentDeclined', compensation: true },
    { source: 'releasingStock', target: 'rejected', event: 'StockReleased', compensation: true },
  ],
});

const declined = {
  orderId: 'o1',
  state: 'rejected',
  status: 'rejected' as const,
  startedAt: '2026-11-22T10:00:00.000Z',
  history: [
    { from: 'reservingStock', to: 'chargingPayment', input: { type: 'StockReserved', eventId: 'e1' }, at: '2026-11-22T10:00:00.010Z' },
    { from: 'chargingPayment', to: 'releasingStock', input: 'PaymentDeclined', at: '2026-11-22T10:00:00.040Z' },
    { from: 'releasingStock', to: 'rejected', input: 'StockReleased', at: '2026-11-22T10:00:00.045Z' },
  ],
};

describe('instancePath', () => {
  it('places each step on its edge with the time it stayed and the time since the start', () => {
    expect(instancePath(graph, declined)).toEqual([
      { index: 0, from: 'reservingStock', to: 'chargingPayment', event: 'StockReserved', at: '2026-11-22T10:00:00.010Z', edgeId: graph.edges[0]!.id, durationMs: 30, elapsedMs: 10 },
      { index: 1, from: 'chargingPayment', to: 'releasingStock', event: 'PaymentDeclined', at: '2026-11-22T10:00:00.040Z', edgeId: graph.edges[1]!.id, durationMs: 5, elapsedMs: 40 },
      { index: 2, from: 'releasingStock', to: 'rejected', event: 'StockReleased', at: '2026-11-22T10:00:00.045Z', edgeId: graph.edges[2]!.id, elapsedMs: 45 },
    ]);
  });

  it('times a running saga’s last step up to now and leaves unknown transitions without an edge', () => {
    const running = {
      status: 'running' as const,
      history: [{ from: 'reservingStock', to: 'releasingStock', input: 'Odd', at: '2026-11-22T10:00:00.000Z' }],
    };
    expect(instancePath(graph, running, Date.parse('2026-11-22T10:00:02.000Z'))).toEqual([
      { index: 0, from: 'reservingStock', to: 'releasingStock', event: 'Odd', at: '2026-11-22T10:00:00.000Z', durationMs: 2000, elapsedMs: 0 },
    ]);
  });

  it('replays: the state after k steps', () => {
    const path = instancePath(graph, declined);
    expect([0, 1, 2, 3, 9].map((k) => stateAfter(graph, path, k))).toEqual(['reservingStock', 'chargingPayment', 'releasingStock', 'rejected', 'rejected']);
  });
});

describe('countInstances', () => {
  it('counts instances per current state and traversals per edge', () => {
    const running = { state: 'chargingPayment', status: 'running' as const, history: [declined.history[0]!] };
    const counts = countInstances(graph, [declined, running]);
    expect(counts.total).toBe(2);
    expect([...counts.states]).toEqual([
      ['rejected', 1],
      ['chargingPayment', 1],
    ]);
    expect([...counts.edges]).toEqual([
      [graph.edges[0]!.id, 2],
      [graph.edges[1]!.id, 1],
      [graph.edges[2]!.id, 1],
    ]);
  });
});
