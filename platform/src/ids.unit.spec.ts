import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deterministicId } from './ids';

describe('deterministicId', () => {
  it('keeps the ids already stored: the same parts give the same UUIDv5 as before', () => {
    // Pinned from the implementation these ids were first written with; a retried command or
    // a re-sent saga step after an upgrade must still be recognised by its id.
    expect(deterministicId('order', 'alice', 'key-1')).toBe('90ca0fc5-d10c-57b6-b73c-9abd85e23c08');
    expect(deterministicId('PlaceOrder', 'x', 1)).toBe('1368209d-d299-51da-b604-ff87c5b3d323');
    expect(deterministicId('é', 'ü')).toBe('752890de-777b-578d-a506-b5409df4da03');
  });

  it('is RFC 9562 UUIDv5: SHA-1 of namespace and name, version 5, variant 10', () => {
    const namespace = Buffer.from('6f1c3a52b4e04c1f9d7e2a8b5c0d4e3f', 'hex');
    const name = ['saga', 'ä-order-1', 'ChargePayment', 2].join('\u001f');
    const sha = createHash('sha1').update(namespace).update(name, 'utf8').digest();
    const id = deterministicId('saga', 'ä-order-1', 'ChargePayment', 2);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const bytes = Buffer.from(id.replace(/-/g, ''), 'hex');
    expect(bytes.subarray(0, 6)).toEqual(sha.subarray(0, 6));
    expect(bytes[6]! & 0x0f).toBe(sha[6]! & 0x0f);
    expect(bytes[8]! & 0x3f).toBe(sha[8]! & 0x3f);
    expect(bytes.subarray(9, 16)).toEqual(sha.subarray(9, 16));
  });
});
