import { describe, expect, it } from 'vitest';
import { backgroundTurn } from './turns';

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

/** `loops` loops of `slices` slices of `sliceMs` each, yielding with `yieldTurn`; the longest wait of a 1 ms timer meanwhile. */
async function longestTimerWait(yieldTurn: () => Promise<void>, loops = 10, slices = 10, sliceMs = 5) {
  let longest = 0;
  let running = true;
  const timerLoop = (async () => {
    while (running) {
      const asked = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 1));
      longest = Math.max(longest, performance.now() - asked);
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 5));
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (let i = 0; i < slices; i++) {
        await yieldTurn();
        busy(sliceMs);
      }
    }),
  );
  running = false;
  await timerLoop;
  return longest;
}

describe('backgroundTurn', () => {
  it('runs one long slice per event-loop iteration, so a timer waits for one slice, not one of every loop', async () => {
    // Ten loops of 5 ms slices: with bare setImmediate every loop's slice runs in one check
    // phase (50 ms) before the timer's phase comes round again.
    const bare = await longestTimerWait(() => new Promise((resolve) => setImmediate(resolve)));
    const turns = await longestTimerWait(backgroundTurn);
    expect(bare).toBeGreaterThan(45);
    expect(turns, `longest timer wait ${turns.toFixed(1)} ms (bare setImmediate: ${bare.toFixed(1)} ms)`).toBeLessThan(bare / 2);
  });

  it('runs short slices together within one iteration budget, so a live hop costs no iteration', async () => {
    // 20 loops of 50 slices that do next to nothing: one slice per iteration would take 1,000 iterations.
    let iterations = 0;
    let running = true;
    const counter = (async () => {
      while (running) {
        await new Promise((resolve) => setImmediate(resolve));
        iterations++;
      }
    })();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 50; i++) await backgroundTurn();
      }),
    );
    running = false;
    await counter;
    expect(iterations).toBeLessThan(100);
  });

  it('hands turns out in the order asked, and at once to a lone waiter', async () => {
    const order: number[] = [];
    await Promise.all([1, 2, 3].map(async (n) => (await backgroundTurn(), order.push(n))));
    expect(order).toEqual([1, 2, 3]);
    const asked = performance.now();
    await backgroundTurn();
    expect(performance.now() - asked).toBeLessThan(5);
  });
});
