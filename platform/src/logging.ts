import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: LevelWithSilent;
  name: string;
  /** Human-readable coloured lines (pino-pretty) instead of JSON. Default: when stdout is a terminal. */
  pretty?: boolean;
}

/**
 * JSON logs to stdout, or readable coloured lines when a person watches a terminal (pino's
 * own pretty transport, in a worker thread). Fields that could carry secrets are redacted
 * wherever a caller logs a request or a body by mistake.
 */
export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', singleLine: true },
          },
        }
      : {}),
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
