import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { AppError, NotFoundError, ValidationError, type Issue } from '../errors';
import { EventValidationError } from '../event-store/port';
import { issuesOf } from './validate';

/** An `application/problem+json` body (RFC 9457), with the field-level issues of a rejected input. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  issues?: Issue[];
}

/** Errors only the edge raises: their kinds belong to HTTP, not to the domain. */
export class PayloadTooLargeError extends AppError {
  readonly status = 413;
  readonly kind = 'payload-too-large';
}
export class UnsupportedMediaTypeError extends AppError {
  readonly status = 415;
  readonly kind = 'unsupported-media-type';
}
export class MalformedJsonError extends AppError {
  readonly status = 400;
  readonly kind = 'malformed-json';
}
export class TooManyRequestsError extends AppError {
  readonly status = 429;
  readonly kind = 'too-many-requests';
}
export class BadRequestError extends AppError {
  readonly status = 400;
  readonly kind = 'bad-request';
}
export class ServiceBusyError extends AppError {
  readonly status = 503;
  readonly kind = 'busy';
}

const TITLES: Record<string, string> = {
  validation: 'Validation failed',
  'not-found': 'Not found',
  conflict: 'Conflict',
  'illegal-state': 'Not allowed in the current state',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  'malformed-json': 'Malformed JSON',
  'payload-too-large': 'Payload too large',
  'unsupported-media-type': 'Unsupported media type',
  'too-many-requests': 'Too many requests',
  'bad-request': 'Bad request',
  busy: 'Service busy',
  'wrong-expected-revision': 'Concurrent modification',
  internal: 'Internal server error',
};

export function problemOf(kind: string, status: number, detail: string, issues?: Issue[]): Problem {
  return {
    type: `/problems/${kind}`,
    title: TITLES[kind] ?? STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    ...(issues && issues.length > 0 ? { issues } : {}),
  };
}

/** body-parser raises http-errors tagged with a `type`; translate the ones a client can cause. */
function fromBodyParser(err: unknown): AppError | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err) || typeof err.type !== 'string') return undefined;
  switch (err.type) {
    case 'entity.parse.failed':
      return new MalformedJsonError('the request body is not valid JSON (an object or array is expected)');
    case 'entity.too.large':
      return new PayloadTooLargeError('the request body exceeds the size limit');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new UnsupportedMediaTypeError('unsupported content encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
      return new BadRequestError('the request body was incomplete');
    default:
      return undefined;
  }
}

/**
 * Whatever else carries a 4xx status is the client's fault too: a path parameter that is not
 * valid percent-encoding (`%ZZ`, the router's URIError), a gzip/deflate/brotli body that does
 * not inflate (body-parser's zlib error). Their own messages quote internals, so the detail is ours.
 */
function fromClientStatus(err: unknown): AppError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const status = 'status' in err ? err.status : 'statusCode' in err ? err.statusCode : undefined;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 499) return undefined;
  if (err instanceof URIError) return new BadRequestError('a path parameter is not valid percent-encoding');
  if ('code' in err && typeof err.code === 'string' && err.code.startsWith('Z_')) {
    return new BadRequestError('the request body could not be decompressed');
  }
  return new ClientStatusError(status, STATUS_CODES[status] ?? 'the request was refused');
}

/** A client fault known only by its status code. */
class ClientStatusError extends AppError {
  readonly kind: string;
  constructor(readonly status: number, message: string) {
    super(message.toLowerCase());
    this.kind = status === 400 ? 'bad-request' : (STATUS_CODES[status] ?? 'client-error').toLowerCase().replace(/[^a-z]+/g, '-');
  }
}

function toAppError(err: unknown): AppError | undefined {
  // An event the service built failed the stored schema: its issues name event fields, not
  // the request's, so they stay in the log and the client gets a plain refusal.
  if (err instanceof EventValidationError) return new ValidationError('the request cannot be recorded as given');
  if (err instanceof AppError) return err;
  if (err instanceof ZodError) return new ValidationError('the request is invalid', issuesOf(err));
  return fromBodyParser(err) ?? fromClientStatus(err);
}

/**
 * The one place errors become HTTP responses. Known errors keep their message; anything
 * else is a 500 whose details go to the log only (no stack or internals to the client).
 */
export const problemHandler: ErrorRequestHandler = (err, req, res, next) => {
  if (res.headersSent) {
    next(err);
    return;
  }
  const known = toAppError(err);
  let problem: Problem;
  if (known) {
    const issues = Array.isArray(known.details.issues) ? (known.details.issues as Issue[]) : undefined;
    problem = problemOf(known.kind, known.status, known.message, issues);
    if (known.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    if (known.status === 503) res.setHeader('Retry-After', '1');
    // A client fault is logged as one line without a stack; the original reason is kept when it differs.
    const reason = known === err ? undefined : err instanceof Error ? err.message : undefined;
    req.log?.info({ problem: problem.type, status: problem.status, detail: problem.detail, ...(reason ? { reason } : {}) }, 'request refused');
  } else {
    problem = problemOf('internal', 500, 'an unexpected error occurred; the correlation id identifies it in the logs');
    (req.log ?? console).error({ err }, 'unhandled error');
  }
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
};

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`no route for ${req.method} ${req.path}`));
};
