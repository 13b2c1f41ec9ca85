/**
 * The few typed errors the services raise. They are mapped to problem+json once, at the
 * HTTP edge (platform/src/http), and nowhere else.
 */
export interface Issue {
  path: (string | number)[];
  message: string;
  code?: string;
}

export abstract class AppError extends Error {
  abstract readonly status: number;
  /** Stable problem type, e.g. `validation`, served as `/problems/<kind>`. */
  abstract readonly kind: string;
  constructor(message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  readonly status = 400;
  readonly kind = 'validation';
  constructor(message: string, readonly issues: Issue[] = []) {
    super(message, { issues });
  }
}

export class NotFoundError extends AppError {
  readonly status = 404;
  readonly kind = 'not-found';
}

export class ConflictError extends AppError {
  readonly status = 409;
  readonly kind = 'conflict';
}

/** The command is well-formed but the aggregate's state does not allow it (e.g. cancel an ended order). */
export class IllegalStateError extends AppError {
  readonly status = 409;
  readonly kind = 'illegal-state';
}

export class UnauthorizedError extends AppError {
  readonly status = 401;
  readonly kind = 'unauthorized';
}

export class ForbiddenError extends AppError {
  readonly status = 403;
  readonly kind = 'forbidden';
}
