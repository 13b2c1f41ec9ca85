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
}

const BEARER = /^Bearer ([A-Za-z0-9_\-.=]+)$/;

/** Requires a valid token and sets `req.user` (and `req.authExpiresAt`); anything else is a 401 problem. */
export function authenticate(jwt: Pick<Jwt, 'verifyWithExpiry'>, options: AuthenticateOptions = {}): RequestHandler {
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
    const { user, expiresAt } = jwt.verifyWithExpiry(token);
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
