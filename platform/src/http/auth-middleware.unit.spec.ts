import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import type { AuthUser } from '../auth/jwt';
import { UnauthorizedError } from '../errors';
import { authenticate } from './auth-middleware';

const ann: AuthUser = { id: 'user-ann', email: 'ann@example.com', role: 'customer' };

/** A verifier that counts its calls and knows one good token, valid until t=10,000 ms. */
function fakeJwt() {
  const jwt = {
    calls: 0,
    verifyWithExpiry(token: string) {
      jwt.calls++;
      if (token !== 'good.token.sig') throw new UnauthorizedError('invalid signature');
      return { user: ann, expiresAt: 10_000 };
    },
  };
  return jwt;
}

function run(handler: ReturnType<typeof authenticate>, token: string): Request {
  const req = { headers: { authorization: `Bearer ${token}` }, query: {} } as unknown as Request;
  handler(req, {} as Response, () => {});
  return req;
}

describe('authenticate', () => {
  it('verifies a token once and then only checks its expiry, until it expires', () => {
    const jwt = fakeJwt();
    let now = 1_000;
    const auth = authenticate(jwt, { now: () => now });
    expect(run(auth, 'good.token.sig').user).toEqual(ann);
    expect(run(auth, 'good.token.sig').user).toEqual(ann);
    expect(jwt.calls).toBe(1);
    now = 10_000;
    // Expired: verified again in full, and refused as the verifier refuses it.
    jwt.verifyWithExpiry = () => {
      jwt.calls++;
      throw new UnauthorizedError('token expired');
    };
    expect(() => run(auth, 'good.token.sig')).toThrow('token expired');
    expect(jwt.calls).toBe(2);
  });

  it('does not remember a token that failed', () => {
    const jwt = fakeJwt();
    const auth = authenticate(jwt, { now: () => 1_000 });
    expect(() => run(auth, 'forged.token.sig')).toThrow('invalid signature');
    expect(() => run(auth, 'forged.token.sig')).toThrow('invalid signature');
    expect(jwt.calls).toBe(2);
  });
});
