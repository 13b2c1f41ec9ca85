import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: LevelWithSilent;
  name: string;
}

/**
 * JSON logs to stdout. Fields that could carry secrets are redacted wherever a caller
 * logs a request or a body by mistake.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino({
    name: options.name,
    level: options.level ?? 'info',
    redact: {
      paths: [
        'password',
        '*.password',
        'card',
        '*.card',
        'token',
        '*.token',
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
}

/** A child logger whose every line carries the correlation id (the order, or the request). */
export function withCorrelation(logger: Logger, correlationId: string, bindings: Record<string, unknown> = {}): Logger {
  return logger.child({ ...bindings, correlationId });
}
