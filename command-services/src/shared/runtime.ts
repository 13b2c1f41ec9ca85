/** The world as the handlers see it, passed in so tests can control it. */
export type Clock = () => Date;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** A logging function; the composition root adapts pino to it (correlation ids travel in `fields`). */
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export const silentLogger: Logger = () => {};

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
