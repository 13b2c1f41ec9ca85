/**
 * Which failures are outages rather than bad messages. Both buses ask this before counting a
 * failed attempt: an outage (a database electing a primary, an event store restarting, a
 * broker away, a busy SQLite file, an optimistic-concurrency conflict that a re-read resolves)
 * is waited out with capped backoff and never dead-letters the message; only a failure of the
 * message's own content counts towards `maxAttempts`.
 *
 * Recognised by name, code or label, so the bus imports no database driver.
 */

/** Thrown (or used as a `cause`) by anything that knows its failure will pass: retried without limit. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

const transientNames = new Set([
  'TransientError',
  // mongodb driver
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  // @eventstore/db-client
  'UnavailableError',
  'DeadlineExceededError',
  'NotLeaderError',
  // this project's event-store port: a re-read and re-decide resolves it
  'WrongExpectedRevisionError',
  // kafkajs, whatever its retriable flag says after it gave up
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
]);

/** @eventstore/db-client's `type` of a server that is away or slow. */
const esdbTransientTypes = new Set(['unavailable', 'deadline-exceeded', 'not-leader', 'timeout']);

/** MongoDB server codes of a primary stepping down or a node shutting down. */
const mongoTransientCodes = new Set([6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436, 262]);
const mongoTransientLabels = ['TransientTransactionError', 'RetryableWriteError', 'ResetPool'];

const systemTransientCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** True when the error, or anything in its `cause` chain, is an outage. */
export function isTransientError(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 6 && current instanceof Object; depth++) {
    if (isTransientItself(current as ErrorLike)) return true;
    current = (current as ErrorLike).cause;
  }
  return false;
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  type?: unknown;
  retriable?: unknown;
  cause?: unknown;
  hasErrorLabel?: unknown;
}

function isTransientItself(e: ErrorLike): boolean {
  const name = typeof e.name === 'string' ? e.name : '';
  if (transientNames.has(name)) return true;
  if (name.startsWith('KafkaJS') && e.retriable === true) return true;
  if (typeof e.type === 'string' && esdbTransientTypes.has(e.type) && !name.startsWith('KafkaJS')) return true;
  if (typeof e.code === 'string') {
    if (e.code.startsWith('SQLITE_BUSY') || e.code.startsWith('SQLITE_LOCKED')) return true;
    if (systemTransientCodes.has(e.code)) return true;
  }
  if (name.startsWith('Mongo')) {
    if (typeof e.code === 'number' && mongoTransientCodes.has(e.code)) return true;
    const hasLabel = e.hasErrorLabel;
    if (typeof hasLabel === 'function' && mongoTransientLabels.some((l) => hasLabel.call(e, l) === true)) return true;
  }
  return false;
}
