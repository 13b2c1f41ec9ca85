import type { Request } from 'express';
import type { Logger } from 'pino';
import type { AuthUser } from '../auth/jwt';
import { UnauthorizedError } from '../errors';

/**
 * What the edge attaches to every request: ids for tracing, a logger bound to them and,
 * once authenticated, the user. Declared once here so handlers read them typed.
 */
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Unique per request. */
      requestId: string;
      /** From `x-correlation-id` when the caller sent a sane one, else the request id. */
      correlationId: string;
      /** A child logger carrying requestId and correlationId. */
      log: Logger;
      /** Set by `authenticate`. Read it through `userOf(req)`. */
      user?: AuthUser;
    }
  }
}

/** The authenticated user; a route behind `authenticate` can rely on it, others get a 401. */
export function userOf(req: Request): AuthUser {
  if (!req.user) throw new UnauthorizedError('authentication required');
  return req.user;
}
