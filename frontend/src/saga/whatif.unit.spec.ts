import { describe, expect, it } from 'vitest';
import { adaptDefinition } from './definition';
import { compare, stops } from './whatif';

const graph = adaptDefinition({
  initial: 'reservingStock',
  states: [{ name: 'reservingStock' }, { name: 'chargingPayment' }, { name: 'releasingStock' }, { name: 'confirmed', kind: 'end' }, { name: 'rejected', kind: 'end', status: 'rejected' }],
  transitions: [
    { source: 'reservingStock', target: 'chargingPayment', event: 'StockReserved', kind: 'forward' },
    { source: 'chargingPayment', target: 'confirmed', event: 'PaymentCaptured', kind: 'forward' },
    { source: 'chargingPayment', target: 'releasingStock', event: 'PaymentDeclined', kind: 'compensation' },
    { source: 'chargingPayment', target: 'releasingStock', event: 'StepTimedOut', kind: 'timeout' },
    { source: 'releasingStock', target: 'rejected', event: 'StockReleased', kind: 'forward' },
  ],
});
const [reserved, , declined, timedOut, released] = graph.edges.map((e) => e.id);

describe('what-if comparison', () => {
  it('reads a path of state names and a path of transitions alike', () => {
    expect(stops(['reservingStock', 'chargingPayment'])).toEqual([{ state: 'reservingStock' }, { state: 'chargingPayment' }]);
    expect(stops([{ from: null, to: 'reservingStock' }, { from: 'reservingStock', to: 'chargingPayment', input: { type: 'StockReserved' } }, { nothing: 1 }])).toEqual([
      { state: 'reservingStock' },
      { state: 'chargingPayment', event: 'StockReserved' },
    ]);
  });

  it('places the replayed path on its own edges and names the states where the two part', () => {
    const c = compare(graph, {
      original: ['reservingStock', 'chargingPayment', 'confirmed'],
      replayed: [
        { to: 'reservingStock' },
        { to: 'chargingPayment', input: 'StockReserved' },
        { to: 'releasingStock', input: { type: 'StepTimedOut' } },
        { to: 'rejected', input: 'StockReleased' },
      ],
      divergesAt: 2,
      commands: [],
    });
    expect([...c.replayedEdges]).toEqual([
      [reserved, [1]],
      [timedOut, [2]],
      [released, [3]],
    ]);
    expect(c.replayedEdges.has(declined!)).toBe(false);
    expect(c).toMatchObject({ divergesAt: 2, divergeState: 'releasingStock', originalState: 'confirmed' });
    expect([...c.replayedStates].sort()).toEqual(['chargingPayment', 'rejected', 'releasingStock', 'reservingStock']);
  });

  it('has no divergence state when the replay follows the record', () => {
    const c = compare(graph, { original: ['reservingStock', 'chargingPayment'], replayed: ['reservingStock', 'chargingPayment'], divergesAt: null, commands: [] });
    expect(c.divergeState).toBeUndefined();
    expect(c.originalState).toBeUndefined();
  });
});
