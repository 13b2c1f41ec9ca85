import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createSecretKey, randomBytes } from 'node:crypto';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { UnauthorizedError } from '../errors';

export type Role = 'customer' | 'admin' | 'service';

export interface AuthUser {
  id: string;
  email: string;
  role: Role;
  name?: string;
}

export interface JwtOptions {
  secret: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface Jwt {
  sign(user: AuthUser): string;
  verify(token: string): AuthUser;
  /** As verify, with the token's expiry (ms since the epoch), for what must end when the token does (live streams). */
  verifyWithExpiry(token: string): { user: AuthUser; expiresAt: number };
}

/** The claims we issue; anything else in a validly signed token is ignored, a missing one refuses it. */
const Claims = z.object({
  sub: z.string().min(1).max(200),
  email: z.string().min(1).max(254),
  role: z.enum(['customer', 'admin', 'service']),
  name: z.string().max(200).optional(),
  // jsonwebtoken refuses an expired token but accepts one without `exp`; we issue none such.
  exp: z.number().int().positive(),
});

/**
 * HS256 tokens. The algorithm is pinned on both sides: verify never lets the token's own
 * header choose (no `none`, no RS/HS confusion), and issuer, audience and expiry are checked.
 */
export function createJwt(options: JwtOptions): Jwt {
  if (options.secret.length < 32) throw new Error('JWT secret must be at least 32 characters');
  const { issuer, audience, ttlSeconds } = options;
  // A KeyObject, made once: handed a string, jsonwebtoken first tries to parse it as a PEM
  // public key and throws, which costs ~1 ms per verify; with a secret key it is ~40 µs.
  const secret = createSecretKey(Buffer.from(options.secret, 'utf8'));
  function verifyWithExpiry(token: string): { user: AuthUser; expiresAt: number } {
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, secret, { algorithms: ['HS256'], issuer, audience });
    } catch (err) {
      throw new UnauthorizedError(reasonOf(err));
    }
    const claims = Claims.safeParse(payload);
    if (!claims.success) throw new UnauthorizedError('token claims are incomplete');
    const { sub, email, role, name, exp } = claims.data;
    return { user: { id: sub, email, role, ...(name === undefined ? {} : { name }) }, expiresAt: exp * 1000 };
  }
  return {
    sign(user) {
      const claims = { email: user.email, role: user.role, ...(user.name === undefined ? {} : { name: user.name }) };
      return jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: ttlSeconds, issuer, audience, subject: user.id });
    },
    verify: (token) => verifyWithExpiry(token).user,
    verifyWithExpiry,
  };
}

function reasonOf(err: unknown): string {
  if (err instanceof jwt.TokenExpiredError) return 'token expired';
  if (err instanceof jwt.NotBeforeError) return 'token not yet valid';
  if (err instanceof jwt.JsonWebTokenError) {
    // jsonwebtoken's messages are short and carry no secrets ("invalid signature", "jwt audience invalid. expected: ...").
    if (err.message.startsWith('jwt audience invalid')) return 'token audience invalid';
    if (err.message.startsWith('jwt issuer invalid')) return 'token issuer invalid';
    if (err.message === 'invalid algorithm' || err.message === 'jwt signature is required') return 'token algorithm not allowed';
    if (err.message === 'invalid signature') return 'token signature invalid';
    return 'token malformed';
  }
  return 'token invalid';
}

/**
 * JWT_SECRET when set; otherwise a random secret kept in `<dataDir>/jwt-secret` (owner-only),
 * so tokens stay valid across restarts of an embedded install without any setup.
 */
export function loadOrCreateJwtSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.JWT_SECRET;
  if (fromEnv) {
    if (fromEnv.length < 32) throw new Error('JWT_SECRET must be at least 32 characters');
    return fromEnv;
  }
  const file = path.join(dataDir, 'jwt-secret');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  // The mode passed to writeFileSync only applies on creation; tighten a pre-existing (short) file too.
  chmodSync(file, 0o600);
  return secret;
}
