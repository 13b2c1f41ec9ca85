import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestStack, type TestStack } from './test-stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ loginRateLimit: { windowMs: 60_000, limit: 1000 } });
});
afterAll(async () => stack?.close());

const post = (url: string, body: unknown) => call(stack.baseUrl, 'POST', url, { body });
const usersCount = async () => (await stack.docs.collection({ name: 'users', indexes: ['email'] })).count();

describe('POST /api/auth/register', () => {
  it('creates a customer and answers a token for them', async () => {
    const res = await post('/api/auth/register', { email: 'Carol@Example.com', password: 'carol-password', name: 'Carol' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ token: expect.any(String), user: { id: expect.any(String), email: 'carol@example.com', role: 'customer' } });
    expect(stack.jwt.verify(res.body.token)).toEqual({ ...res.body.user, name: 'Carol' });
  });

  it('refuses an email already taken, whatever its case, and keeps the first account', async () => {
    await post('/api/auth/register', { email: 'dave@example.com', password: 'dave-password', name: 'Dave' });
    const before = await usersCount();
    const res = await post('/api/auth/register', { email: 'DAVE@example.com', password: 'other-password', name: 'Impostor' });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toEqual({ type: '/problems/conflict', title: 'Conflict', status: 409, detail: 'an account with this email already exists' });
    expect(await usersCount()).toBe(before);
    expect((await post('/api/auth/login', { email: 'dave@example.com', password: 'dave-password' })).status).toBe(200);
  });

  it('refuses a short password, a bad email, unknown fields and operator injection, creating nobody', async () => {
    const before = await usersCount();
    const short = await post('/api/auth/register', { email: 'eve@example.com', password: 'short', name: 'Eve' });
    expect(short.status).toBe(400);
    expect(short.body.issues).toEqual([{ path: ['password'], message: 'password must be at least 8 characters', code: 'too_small' }]);

    const badEmail = await post('/api/auth/register', { email: 'not-an-email', password: 'long-enough', name: 'Eve' });
    expect(badEmail.status).toBe(400);
    expect(badEmail.body.issues.map((i: { path: unknown }) => i.path)).toEqual([['email']]);

    const extra = await post('/api/auth/register', { email: 'eve@example.com', password: 'long-enough', name: 'Eve', role: 'admin' });
    expect(extra.status).toBe(400);
    expect(extra.body.issues).toEqual([{ path: [], message: 'Unrecognized key: "role"', code: 'unrecognized_keys' }]);

    const injection = await post('/api/auth/register', { email: { $gt: '' }, password: 'long-enough', name: 'Eve' });
    expect(injection.status).toBe(400);
    expect(injection.body.type).toBe('/problems/validation');
    expect(await usersCount()).toBe(before);
  });
});

describe('POST /api/auth/login', () => {
  beforeAll(async () => {
    await stack.users.register({ email: 'frank@example.com', password: 'frank-password', name: 'Frank' });
  });

  it('answers a token and the user for the right password, the email in any case', async () => {
    const res = await post('/api/auth/login', { email: 'FRANK@example.com', password: 'frank-password' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ token: expect.any(String), user: { id: expect.any(String), email: 'frank@example.com', role: 'customer' } });
  });

  it('answers the same 401 for a wrong password and an unknown email', async () => {
    const wrong = await post('/api/auth/login', { email: 'frank@example.com', password: 'not-the-password' });
    const unknown = await post('/api/auth/login', { email: 'nobody@example.com', password: 'whatever-pass' });
    const expected = { type: '/problems/unauthorized', title: 'Unauthorized', status: 401, detail: 'invalid email or password' };
    expect([wrong.status, wrong.body]).toEqual([401, expected]);
    expect([unknown.status, unknown.body]).toEqual([401, expected]);
  });

  it('refuses operator injection with a 400, not a login', async () => {
    const res = await post('/api/auth/login', { email: { $gt: '' }, password: { $ne: null } });
    expect(res.status).toBe(400);
    expect(res.body.issues.map((i: { path: unknown }) => i.path)).toEqual([['email'], ['password']]);
  });
});

describe('login rate limit (default: 10 failed logins a minute per IP)', () => {
  let limited: TestStack;
  beforeAll(async () => {
    limited = await startTestStack();
  });
  afterAll(async () => limited?.close());

  it('answers 429 problem+json with Retry-After from the 11th attempt, even with the right password', async () => {
    await limited.users.register({ email: 'gina@example.com', password: 'gina-password', name: 'Gina' });
    for (let i = 0; i < 10; i++) {
      const res = await call(limited.baseUrl, 'POST', '/api/auth/login', { body: { email: 'gina@example.com', password: `guess-${i}-xx` } });
      expect(res.status).toBe(401);
    }
    const blocked = await call(limited.baseUrl, 'POST', '/api/auth/login', { body: { email: 'gina@example.com', password: 'gina-password' } });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.body).toEqual({
      type: '/problems/too-many-requests',
      title: 'Too many requests',
      status: 429,
      detail: 'too many login attempts; try again later',
    });
  });

  it('successful logins do not use up the allowance', async () => {
    const fresh = await startTestStack();
    try {
      await fresh.users.register({ email: 'hank@example.com', password: 'hank-password', name: 'Hank' });
      for (let i = 0; i < 12; i++) {
        const res = await call(fresh.baseUrl, 'POST', '/api/auth/login', { body: { email: 'hank@example.com', password: 'hank-password' } });
        expect(res.status).toBe(200);
      }
    } finally {
      await fresh.close();
    }
  });
});
