/** The few logging calls the saga makes; a pino logger fits as it is. */
export interface SagaLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLog: SagaLog = { info() {}, warn() {}, error() {} };
