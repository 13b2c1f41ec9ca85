import { Router, type Request } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import type { AuthUser, Jwt } from '@saga/platform/auth/jwt';
import { UnauthorizedError } from '@saga/platform/errors';
import { TooManyRequestsError } from '@saga/platform/http/problem';
import { json, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import { loadPasswordPolicy, LoginRequest, RegisterRequest, type UserStore } from '../users/user-store';

export interface RateLimitOptions {
  windowMs: number;
  limit: number;
}

export interface AuthRouterDeps {
  users: UserStore;
  jwt: Pick<Jwt, 'sign'>;
  /**
   * Per client IP, every attempt (a success too: each costs a 32 MiB scrypt hash, so a valid
   * account must not buy unlimited hashing). Default: 20 a minute.
   */
  loginRateLimit?: RateLimitOptions;
  /** Per account (the email asked for, normalised), every attempt, whatever the IP. Default: 10 a minute. */
  loginAccountRateLimit?: RateLimitOptions;
  /** Per client IP. Default: 20 registrations a minute (each costs a scrypt hash). */
  registerRateLimit?: RateLimitOptions;
}

/** The limiter answers through the problem handler, so a 429 is problem+json like every other error. */
function limiter({ windowMs, limit }: RateLimitOptions, what: string, keyGenerator?: (req: Request) => string) {
  return rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    ...(keyGenerator ? { keyGenerator } : {}),
    handler: (_req, _res, next) => next(new TooManyRequestsError(`too many ${what} attempts; try again later`)),
  });
}

/** The account a login asks for, as the user store finds it (trimmed, lower-cased); malformed bodies share one key. */
const accountOf = (req: Request): string => {
  const email: unknown = (req.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? `account:${email.trim().toLowerCase().slice(0, 254)}` : 'account:(malformed)';
};

const session = (jwt: Pick<Jwt, 'sign'>, user: AuthUser) => ({
  token: jwt.sign(user),
  user: { id: user.id, email: user.email, role: user.role },
});

/** `POST /api/auth/register` and `POST /api/auth/login`, both answering `{ token, user }`. */
export function createAuthRouter(deps: AuthRouterDeps): Router {
  const { users, jwt } = deps;
  const router = Router();

  router.post(
    '/api/auth/register',
    limiter(deps.registerRateLimit ?? { windowMs: 60_000, limit: 20 }, 'registration'),
    async (req: Request, res) => {
      await loadPasswordPolicy();
      const body = parseWith(RegisterRequest, req.body);
      const user = await users.register({ ...body, role: 'customer' });
      req.log.info({ userId: user.id }, 'user registered');
      res.status(201).json(session(jwt, user));
    },
  );

  router.post(
    '/api/auth/login',
    limiter(deps.loginRateLimit ?? { windowMs: 60_000, limit: 20 }, 'login'),
    limiter(deps.loginAccountRateLimit ?? { windowMs: 60_000, limit: 10 }, 'login', accountOf),
    async (req, res) => {
      const { email, password } = parseWith(LoginRequest, req.body);
      const user = await users.authenticate(email, password);
      if (!user) throw new UnauthorizedError('invalid email or password');
      res.json(session(jwt, user));
    },
  );

  return router;
}

const Session = z
  .object({
    token: z.string().meta({ description: 'A JWT for `Authorization: Bearer <token>`' }),
    user: z.object({ id: z.string(), email: z.string(), role: z.enum(['customer', 'admin', 'service']) }),
  })
  .meta({ id: 'Session' });

export const authPaths: Paths = {
  '/api/auth/register': {
    post: {
      operationId: 'register',
      tags: ['auth'],
      summary: 'Create a customer account and sign in',
      security: [],
      requestBody: { required: true, content: { 'application/json': { schema: RegisterRequest } } },
      responses: { '201': json('The account exists; here is its token', Session), ...problems(409, 413, 429) },
    },
  },
  '/api/auth/login': {
    post: {
      operationId: 'login',
      tags: ['auth'],
      summary: 'Sign in',
      description: 'Wrong credentials are a 401 that says nothing about which part was wrong. Ten failures a minute per client IP, then 429.',
      security: [],
      requestBody: { required: true, content: { 'application/json': { schema: LoginRequest } } },
      responses: { '200': json('Signed in', Session), ...problems(401, 413, 429) },
    },
  },
};
