import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jsonwebtoken from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { UnauthorizedError } from '../errors';
import { createJwt, loadOrCreateJwtSecret, type AuthUser } from './jwt';

const secret = 'test-secret-that-is-long-enough-0123456789';
const options = { secret, issuer: 'order-saga', audience: 'order-saga-api', ttlSeconds: 60 };
const jwt = createJwt(options);
const alice: AuthUser = { id: 'u-1', email: 'alice@example.com', role: 'customer', name: 'Alice' };
const claims = { email: alice.email, role: alice.role };

function refusal(token: string): string {
  try {
    jwt.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(UnauthorizedError);
    return (err as Error).message;
  }
  throw new Error('token was accepted');
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('createJwt', () => {
  it('verifies what it signed and returns the user', () => {
    expect(jwt.verify(jwt.sign(alice))).toEqual(alice);
  });

  it('refuses a token signed with another secret', () => {
    const forged = jsonwebtoken.sign(claims, 'another-secret-another-secret-another', {
      algorithm: 'HS256', issuer: options.issuer, audience: options.audience, subject: alice.id, expiresIn: 60,
    });
    expect(refusal(forged)).toBe('token signature invalid');
  });

  it('refuses a token whose payload was edited (role raised to admin)', () => {
    const [header, , signature] = jwt.sign(alice).split('.');
    const payload = b64({ ...claims, role: 'admin', sub: alice.id, iss: options.issuer, aud: options.audience, exp: Math.floor(Date.now() / 1000) + 60 });
    expect(refusal(`${header}.${payload}.${signature}`)).toBe('token signature invalid');
  });

  it('refuses an expired token', () => {
    const expired = jsonwebtoken.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, secret, {
      algorithm: 'HS256', issuer: options.issuer, audience: options.audience, subject: alice.id,
    });
    expect(refusal(expired)).toBe('token expired');
  });

  it('refuses a wrong issuer and a wrong audience', () => {
    const sign = (issuer: string, audience: string) =>
      jsonwebtoken.sign(claims, secret, { algorithm: 'HS256', issuer, audience, subject: alice.id, expiresIn: 60 });
    expect(refusal(sign('someone-else', options.audience))).toBe('token issuer invalid');
    expect(refusal(sign(options.issuer, 'another-api'))).toBe('token audience invalid');
  });

  it("refuses alg 'none' and any algorithm but HS256", () => {
    const body = b64({ ...claims, sub: alice.id, iss: options.issuer, aud: options.audience, exp: Math.floor(Date.now() / 1000) + 60 });
    expect(refusal(`${b64({ alg: 'none', typ: 'JWT' })}.${body}.`)).toBe('token algorithm not allowed');
    const hs512 = jsonwebtoken.sign(claims, secret, {
      algorithm: 'HS512', issuer: options.issuer, audience: options.audience, subject: alice.id, expiresIn: 60,
    });
    expect(refusal(hs512)).toBe('token algorithm not allowed');
  });

  it('refuses garbage and a validly signed token without our claims', () => {
    expect(refusal('not.a.token')).toBe('token malformed');
    const bare = jsonwebtoken.sign({ sub: 'x' }, secret, { algorithm: 'HS256', issuer: options.issuer, audience: options.audience, expiresIn: 60 });
    expect(refusal(bare)).toBe('token claims are incomplete');
  });

  it('refuses a secret shorter than 32 characters', () => {
    expect(() => createJwt({ ...options, secret: 'short' })).toThrow(/at least 32/);
  });
});

describe('loadOrCreateJwtSecret', () => {
  it('creates an owner-only secret once and returns the same one afterwards', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jwt-secret-'));
    try {
      const first = loadOrCreateJwtSecret(dir, {});
      expect(first.length).toBeGreaterThanOrEqual(32);
      expect(fs.statSync(path.join(dir, 'jwt-secret')).mode & 0o777).toBe(0o600);
      expect(loadOrCreateJwtSecret(dir, {})).toBe(first);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prefers JWT_SECRET and writes nothing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jwt-secret-'));
    try {
      expect(loadOrCreateJwtSecret(dir, { JWT_SECRET: secret })).toBe(secret);
      expect(fs.existsSync(path.join(dir, 'jwt-secret'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
