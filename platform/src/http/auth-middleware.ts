import type { Request, RequestHandler } from 'express';
import type { AuthUser, Jwt, Role } from '../auth/jwt';
import { ForbiddenError, UnauthorizedError } from '../errors';
import './request-context';

export interface AuthenticateOptions {
  /**
   * Also accept `?access_token=` (EventSource cannot send headers). Only for routes that
   * need it: a token in a URL can end up in logs and history.
   */
  allowQueryToken?: boolean;
  /** The clock a remembered token's expiry is checked against (tests). */
  now?: () => number;
}

const BEARER = /^Bearer ([A-Za-z0-9_\-.=]+)$/;

/** Tokens remembered as verified, per middleware; the oldest is dropped past this. */
const VERIFIED_TOKENS = 1_024;

/**
 * A client sends the same token with every request until it expires, and verifying it (HMAC,
 * base64 and JSON decoding, the claims' schema) was a tenth of a place-order request's CPU.
 * A token's bytes are signed, so one that verified once verifies again until it expires: the
 * answer is remembered by the token itself, and only the expiry is checked on a reuse. A token
 * that failed is not remembered (it fails again at full price).
 */
function rememberVerified(jwt: Pick<Jwt, 'verifyWithExpiry'>, now: () => number): (token: string) => { user: AuthUser; expiresAt: number } {
  const verified = new Map<string, { user: AuthUser; expiresAt: number }>();
  return (token) => {
    const known = verified.get(token);
    if (known !== undefined && known.expiresAt > now()) return known;
    if (known !== undefined) verified.delete(token);
    const fresh = jwt.verifyWithExpiry(token);
    if (verified.size >= VERIFIED_TOKENS) verified.delete(verified.keys().next().value!);
    verified.set(token, fresh);
    return fresh;
  };
}

/** Requires a valid token and sets `req.user` (and `req.authExpiresAt`); anything else is a 401 problem. */
export function authenticate(jwt: Pick<Jwt, 'verifyWithExpiry'>, options: AuthenticateOptions = {}): RequestHandler {
  const verify = rememberVerified(jwt, options.now ?? Date.now);
  return (req, _res, next) => {
    const header = req.headers.authorization;
    let token: string | undefined;
    if (header !== undefined) {
      const match = BEARER.exec(header);
      if (!match) throw new UnauthorizedError('the Authorization header must be "Bearer <token>"');
      token = match[1];
    } else if (options.allowQueryToken) {
      const q = req.query.access_token;
      if (typeof q === 'string' && q.length > 0) token = q;
    }
    if (!token) throw new UnauthorizedError('authentication required');
    const { user, expiresAt } = verify(token);
    req.user = user;
    req.authExpiresAt = expiresAt;
    next();
  };
}

/** After `authenticate`: lets only the given roles through (403 otherwise). */
export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    if (!req.user) throw new UnauthorizedError('authentication required');
    if (!roles.includes(req.user.role)) {
      throw new ForbiddenError(`this action requires the role ${roles.join(' or ')}`);
    }
    next();
  };
}

/** The authenticated user; a route behind `authenticate` can rely on it, others get a 401. */
export function userOf(req: Request): AuthUser {
  if (!req.user) throw new UnauthorizedError('authentication required');
  return req.user;
}
