import { describe, expect, it } from 'vitest';
import { withBackoff } from './retry';

const policy = { maxAttempts: 4, initialDelayMs: 10, maxDelayMs: 25 };

describe('withBackoff', () => {
  it('retries with doubling delays, capped, until it succeeds', async () => {
    const slept: number[] = [];
    let calls = 0;
    const result = await withBackoff(async () => (++calls < 4 ? Promise.reject(new Error(`fail ${calls}`)) : 'ok'), policy, async (ms) => void slept.push(ms));
    expect(result).toEqual({ ok: true, value: 'ok', attempts: 4 });
    expect(slept).toEqual([10, 20, 25]);
  });

  it('gives up after the last try and returns the last error', async () => {
    let calls = 0;
    const result = await withBackoff(async () => Promise.reject(new Error(`fail ${++calls}`)), policy, async () => {});
    expect(result).toEqual({ ok: false, error: new Error('fail 4'), attempts: 4 });
  });

  it('does not retry an error that is not retryable', async () => {
    let calls = 0;
    const result = await withBackoff(async () => Promise.reject(new Error(`fatal ${++calls}`)), policy, async () => {}, () => false);
    expect(result).toEqual({ ok: false, error: new Error('fatal 1'), attempts: 1 });
  });
});
