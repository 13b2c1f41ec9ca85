import type { Logger } from 'pino';
import type { AuthUser } from '../auth/jwt';

/**
 * What the edge attaches to every request: ids for tracing, a logger bound to them and,
 * once authenticated, the user. Declared once here (a type-only module) so handlers read them typed.
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
      /** When the credential behind `user` expires (ms since the epoch); set with `user`. */
      authExpiresAt?: number;
    }
  }
}

export {};
