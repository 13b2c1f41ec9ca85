import type { z } from 'zod';
import { ValidationError, type Issue } from '../errors';

/**
 * Zod's issues as plain data: a path of keys and indexes, a message, zod's code. A default
 * message that quotes a schema's regular expression is replaced: the pattern is internal.
 */
export function issuesOf(error: z.ZodError): Issue[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: quotesPattern(i) ? 'has an invalid format' : i.message,
    code: i.code,
  }));
}

function quotesPattern(issue: z.core.$ZodIssue): boolean {
  return 'pattern' in issue && typeof issue.pattern === 'string' && issue.message.includes(issue.pattern);
}

/** Parses untrusted input, or throws a ValidationError (400) carrying every issue. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`the ${what} is invalid`, issuesOf(result.error));
  return result.data;
}
