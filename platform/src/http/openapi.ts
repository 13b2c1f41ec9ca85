/**
 * Pieces every service uses to describe its routes in the OpenAPI document: the problem+json
 * error body, the bearer-token scheme, and the document builder. The document is generated
 * by zod-openapi from the very zod schemas that parse requests (its input view) and describe
 * responses (its output view), so the contract cannot drift from the validation.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { AppError } from '../errors';
import {
  createDocument,
  type ZodOpenApiObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';

export type { ZodOpenApiOperationObject as Operation, ZodOpenApiPathsObject as Paths } from 'zod-openapi';

/** Every error kind the edge maps to problem+json (platform/src/http/problem.ts and errors.ts). */
export const problemKinds = [
  'validation',
  'bad-request',
  'malformed-json',
  'not-found',
  'conflict',
  'illegal-state',
  'unauthorized',
  'forbidden',
  'payload-too-large',
  'unsupported-media-type',
  'too-many-requests',
  'method-not-allowed',
  'request-header-fields-too-large',
  'wrong-expected-revision',
  'internal',
] as const;

export const Problem = z
  .object({
    type: z.string().meta({ description: '`/problems/<kind>`: stable, for programs to branch on', examples: ['/problems/validation'] }),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string(),
    issues: z
      .array(
        z.object({
          path: z.array(z.union([z.string(), z.number()])),
          message: z.string(),
          code: z.string().optional(),
        }),
      )
      .optional()
      .meta({ description: 'Field-level issues of a rejected input' }),
  })
  .meta({
    id: 'Problem',
    description: `An RFC 9457 problem. \`type\` is one of ${problemKinds.map((k) => `\`/problems/${k}\``).join(', ')}.`,
  });

const problemContent = { 'application/problem+json': { schema: Problem } };

const problemStatuses = {
  400: 'The request is invalid (`/problems/validation`, `/problems/malformed-json`, `/problems/bad-request`)',
  401: 'No valid bearer token (`/problems/unauthorized`)',
  403: 'The token lacks the role this needs (`/problems/forbidden`)',
  404: 'Not found, or not yours (`/problems/not-found`)',
  409: 'Conflicts with the current state (`/problems/conflict`, `/problems/illegal-state`, `/problems/wrong-expected-revision`)',
  413: 'The body is over the size limit (`/problems/payload-too-large`)',
  415: 'The body is not application/json (`/problems/unsupported-media-type`)',
  429: 'Too many attempts (`/problems/too-many-requests`)',
  431: 'The request line or headers are over the size limit (`/problems/request-header-fields-too-large`)',
  500: 'An unexpected error; the x-correlation-id header identifies it in the logs (`/problems/internal`)',
  503: 'Not ready yet, e.g. a read model catching up with the log; retry after the Retry-After seconds (`/problems/busy`)',
} as const;
export type ProblemStatus = keyof typeof problemStatuses;

/** The problem+json responses an operation can give, besides the ones every route can (400, 415, 431, 500). */
export function problems(...statuses: ProblemStatus[]): ZodOpenApiResponsesObject {
  const all = new Set<ProblemStatus>([400, 415, 431, 500, ...statuses]);
  return Object.fromEntries(
    [...all].sort().map((status) => [String(status), { description: problemStatuses[status], content: problemContent }]),
  ) as ZodOpenApiResponsesObject;
}

export const json = (description: string, schema: z.ZodType, extra: Omit<ZodOpenApiResponseObject, 'description' | 'content'> = {}) => ({
  description,
  content: { 'application/json': { schema } },
  ...extra,
});

/** `security` of an operation behind `authenticate`. */
export const bearer = [{ bearerAuth: [] }];

/** For routes that accept no query parameters (the strict schemas refuse unknown ones). */
export const noQuery = z.strictObject({});

/** Joins the paths several routers declare; two declaring the same operation is a mistake. */
export function mergePaths(...parts: ZodOpenApiPathsObject[]): ZodOpenApiPathsObject {
  const merged: ZodOpenApiPathsObject = {};
  for (const part of parts) {
    for (const [path, item] of Object.entries(part)) {
      const existing = merged[path] ?? {};
      const clash = Object.keys(item).filter((method) => method in existing);
      if (clash.length > 0) throw new Error(`OpenAPI: ${clash.join(', ')} ${path} is declared twice`);
      merged[path] = { ...existing, ...item };
    }
  }
  return merged;
}

export interface DocumentOptions {
  title: string;
  version: string;
  description: string;
  paths: ZodOpenApiPathsObject;
  tags?: ZodOpenApiObject['tags'];
}

export function buildOpenApiDocument(options: DocumentOptions) {
  return createDocument({
    openapi: '3.1.0',
    info: { title: options.title, version: options.version, description: options.description },
    ...(options.tags ? { tags: options.tags } : {}),
    paths: options.paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A token from `POST /api/auth/login` or `POST /api/auth/register`, as `Authorization: Bearer <token>`.',
        },
        accessToken: {
          type: 'apiKey',
          in: 'query',
          name: 'access_token',
          description: 'The same token in the query string, for EventSource clients; accepted by `GET /api/live` only.',
        },
      },
    },
  });
}

/** The routes every service's edge has (createHttpApp). */
export const edgePaths: ZodOpenApiPathsObject = {
  '/healthz': {
    get: {
      operationId: 'health',
      tags: ['operations'],
      summary: 'Liveness and readiness',
      security: [],
      responses: {
        '200': json('The service is ready', z.looseObject({ status: z.literal('ok'), service: z.string() })),
        '503': json('A dependency is unavailable', z.looseObject({ status: z.literal('unavailable'), service: z.string() })),
      },
    },
  },
  '/metrics': {
    get: {
      operationId: 'metrics',
      tags: ['operations'],
      summary: 'Prometheus metrics (admin; open on METRICS_PORT instead when that is set)',
      security: bearer,
      responses: {
        '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } },
        ...problems(401, 403),
      },
    },
  },
};

export class MethodNotAllowedError extends AppError {
  readonly status = 405;
  readonly kind = 'method-not-allowed';
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * For a path the document declares: OPTIONS answers 204 with `Allow`, and a method it does not
 * declare is a 405 problem (with `Allow`). Mount before the routers: each router would answer
 * OPTIONS with only its own methods. Derived from the document, so the answers and the
 * contract cannot disagree.
 */
export function methodNotAllowed(paths: Record<string, object | undefined>): RequestHandler {
  const routes = Object.entries(paths).map(([template, item]) => {
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
    const declared = METHODS.filter((m) => item !== undefined && m in item).map((m) => m.toUpperCase());
    if (declared.includes('GET') && !declared.includes('HEAD')) declared.push('HEAD');
    return { regex: new RegExp(`^${pattern}$`), allow: declared };
  });
  return (req, res, next) => {
    const route = routes.find((r) => r.regex.test(req.path));
    if (!route || route.allow.includes(req.method)) {
      next();
      return;
    }
    res.setHeader('Allow', route.allow.join(', '));
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next(new MethodNotAllowedError(`${req.method} is not allowed on ${req.path}; allowed: ${route.allow.join(', ')}`));
  };
}
