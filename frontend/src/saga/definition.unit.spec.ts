import { describe, it, expect } from 'vitest';
import { adaptDefinition, DefinitionError, labelOf, resolveState } from './definition';

describe('adaptDefinition', () => {
  it('reads the agreed shape: states, transitions with guards and compensation flags, steps', () => {
    const graph = adaptDefinition({
      id: 'orderSaga',
      initial: 'reservingStock',
      states: [
        { id: 'reservingStock', timeout: { ms: 30000 } },
        { id: 'chargingPayment', description: 'authorize and capture' },
        { id: 'rejected', type: 'final' },
      ],
      transitions: [
        { source: 'reservingStock', target: 'chargingPayment', event: 'StockReserved' },
        { source: 'chargingPayment', target: 'rejected', event: 'PaymentDeclined', guard: 'noRetriesLeft', compensation: true },
        { source: 'chargingPayment', target: 'rejected', event: 'xstate.after.payment', delay: 30000 },
      ],
      steps: [{ step: 'reserve stock', state: 'reservingStock', command: 'ReserveStock', compensation: 'ReleaseStock', timeout: 30000 }],
    });
    expect(graph).toEqual({
      id: 'orderSaga',
      initial: 'reservingStock',
      nodes: [
        { id: 'reservingStock', label: 'reserving stock', kind: 'initial', timeoutMs: 30000 },
        { id: 'chargingPayment', label: 'charging payment', kind: 'normal', description: 'authorize and capture' },
        { id: 'rejected', label: 'rejected', kind: 'final' },
      ],
      edges: [
        { id: 'e0:reservingStock->chargingPayment:StockReserved', source: 'reservingStock', target: 'chargingPayment', event: 'StockReserved', compensation: false, timeout: false },
        {
          id: 'e1:chargingPayment->rejected:PaymentDeclined',
          source: 'chargingPayment',
          target: 'rejected',
          event: 'PaymentDeclined',
          guard: 'noRetriesLeft',
          compensation: true,
          timeout: false,
        },
        { id: 'e2:chargingPayment->rejected:xstate.after.payment', source: 'chargingPayment', target: 'rejected', event: 'xstate.after.payment', compensation: false, timeout: true },
      ],
      steps: [{ name: 'reserve stock', state: 'reservingStock', command: 'ReserveStock', compensation: 'ReleaseStock', timeoutMs: 30000 }],
    });
  });

  it('accepts states keyed by id and draws states only transitions name', () => {
    const graph = adaptDefinition({
      initial: 'a',
      states: { a: {}, b: { type: 'final' } },
      transitions: [{ source: 'a', target: 'c', event: 'GO' }],
    });
    expect(graph.nodes.map((n) => [n.id, n.kind])).toEqual([
      ['a', 'initial'],
      ['b', 'final'],
      ['c', 'normal'],
    ]);
  });

  it('refuses a definition without states', () => {
    expect(() => adaptDefinition({ id: 'x', states: [] })).toThrow(DefinitionError);
    expect(() => adaptDefinition('nope')).toThrow(DefinitionError);
  });

  it('resolves dotted state names to their node', () => {
    const graph = adaptDefinition({ states: [{ id: 'chargingPayment' }] });
    expect(resolveState(graph, 'orderSaga.chargingPayment')).toBe('chargingPayment');
    expect(resolveState(graph, 'elsewhere')).toBeUndefined();
    expect(labelOf('sendingConfirmationEmail')).toBe('sending confirmation email');
  });
});
