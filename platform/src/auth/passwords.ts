import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { AppError } from '../errors';

/** scrypt parameters (N=2^15, r=8, p=1: OWASP's minimum), stored with each hash so they can be raised later. */
const N = 32_768;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const MAX_MEM = 64 * 1024 * 1024;

function derive(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash`, salt and hash base64url; a fresh 16-byte salt per call. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, KEY_LENGTH, { N, r: R, p: P, maxmem: MAX_MEM });
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Compares in constant time; a malformed stored hash simply does not match. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![n, r, p].every((x) => Number.isSafeInteger(x) && x > 0)) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length === 0) return false;
  const actual = await derive(password, salt, expected.length, { N: n, r, p, maxmem: MAX_MEM });
  return timingSafeEqual(actual, expected);
}

/** Too many password hashes are already waiting: the caller should retry shortly (503). */
export class PasswordWorkBusyError extends AppError {
  readonly status = 503;
  readonly kind = 'busy';
}

export interface PasswordHasherOptions {
  /** Hashes computed at once. Default: one fewer than the cores (at least one), so a core stays free for requests. */
  concurrency?: number;
  /** Hashes that may wait for a slot; one more is refused with PasswordWorkBusyError. Default 32. */
  maxQueued?: number;
  /** Hashes one key (an account) may have running or waiting at once. Default 4. */
  maxPerKey?: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** `key` (the account) makes that key's checks take turns, so one busy account holds at most one place in line. */
  verify(password: string, stored: string, key?: string): Promise<boolean>;
  /** Hashes running and waiting now (for tests and metrics). */
  readonly load: { running: number; queued: number };
}

/**
 * scrypt already runs on libuv's thread pool, off the event loop, but each hash takes 32 MiB
 * and a core for ~60-100 ms, and the pool (4 threads) is shared with file and DNS work. A
 * burst of logins would take every core and every pool thread; here at most `concurrency`
 * hash at once and a bounded queue waits in order, so other requests keep a core and a
 * flood is refused early instead of queueing without end. Work of one key runs one at a
 * time, behind its own previous check, so a burst on one account waits behind itself
 * rather than in front of everyone else.
 */
export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  const concurrency = Math.max(1, options.concurrency ?? availableParallelism() - 1);
  const maxQueued = Math.max(0, options.maxQueued ?? 32);
  const maxPerKey = Math.max(1, options.maxPerKey ?? 4);
  let running = 0;
  const waiting: (() => void)[] = [];
  const perKey = new Map<string, { tail: Promise<unknown>; count: number }>();
  const busy = () => new PasswordWorkBusyError('the server is busy checking passwords; try again in a moment');

  async function withSlot<T>(work: () => Promise<T>): Promise<T> {
    if (running >= concurrency) {
      if (waiting.length >= maxQueued) throw busy();
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next in line (running stays the same), or free it.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  function inTurn<T>(key: string, work: () => Promise<T>): Promise<T> {
    const entry = perKey.get(key) ?? { tail: Promise.resolve(), count: 0 };
    if (entry.count >= maxPerKey) return Promise.reject(busy());
    entry.count++;
    perKey.set(key, entry);
    const result = entry.tail.then(() => withSlot(work));
    entry.tail = result.catch(() => undefined);
    void entry.tail.then(() => {
      if (--entry.count === 0 && perKey.get(key) === entry) perKey.delete(key);
    });
    return result;
  }

  return {
    hash: (password) => withSlot(() => hashPassword(password)),
    verify: (password, stored, key) =>
      key === undefined ? withSlot(() => verifyPassword(password, stored)) : inTurn(key, () => verifyPassword(password, stored)),
    get load() {
      return { running, queued: waiting.length };
    },
  };
}
