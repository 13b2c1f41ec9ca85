import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, ensurePrivateFiles, switchToWal } from '@saga/platform/sqlite/connection';
import { WalSync } from '@saga/platform/sqlite/wal-sync';
import { realSleep, type Sleep } from '../shared/runtime';
import { GatewayUnavailableError, InvalidCardError, ProviderUnreachableError, type AuthorizeResult, type PaymentGateway } from './gateway';

/** The test cards and what each one does. Any other number is an unknown card. */
export const TEST_CARDS = {
  '4242424242424242': 'approve',
  '4000000000000002': 'decline',
  '4000000000009995': 'insufficient',
  '4000000000000119': 'flaky',
  '4000000000000259': 'late',
  '4000000000000341': 'unreachable',
} as const;

export type Scenario = (typeof TEST_CARDS)[keyof typeof TEST_CARDS] | 'unknown';
const scenarios: readonly Scenario[] = ['approve', 'decline', 'insufficient', 'flaky', 'late', 'unreachable', 'unknown'];

export interface SimulatedGatewayOptions {
  /**
   * How long the `late` card takes to answer. Default: three times `stepTimeoutMs`, after the
   * payment step's last deadline (saga version 2 re-sends the charge once: two deadlines).
   */
  lateAnswerMs?: number;
  /** The saga's payment step timeout (SAGA_STEP_TIMEOUT_MS). Default 30000. */
  stepTimeoutMs?: number;
  /** How many times the `flaky` card fails before it approves. Default 2. */
  transientFailures?: number;
  sleep?: Sleep;
  randomHex?: () => string;
  /**
   * Where the provider keeps what it did (`simulated-gateway.sqlite`), so that like a real
   * provider it still knows every charge after the payment service crashed. Default: memory.
   */
  dataDir?: string;
}

/** Money the simulated provider moved, for tests that check the books balance. */
export interface SimulatedLedger {
  captured: number;
  refunded: number;
}

export type SimulatedGateway = PaymentGateway & { ledger(): SimulatedLedger; close(): void };

/**
 * A provider simulated by test card. The token names the card's scenario and a random part,
 * never the number (nor a hash of it, which 16 mostly-known digits would make guessable), so
 * it survives a restart without the gateway remembering anything about the card.
 */
export function createSimulatedGateway(options: SimulatedGatewayOptions = {}): SimulatedGateway {
  const sleep = options.sleep ?? realSleep;
  const lateAnswerMs = options.lateAnswerMs ?? 3 * (options.stepTimeoutMs ?? 30_000);
  const transientFailures = options.transientFailures ?? 2;
  const randomHex = options.randomHex ?? pooledRandomHex();
  const failuresSoFar = new Map<string, number>();
  // Answers by idempotency key, as a provider would: a retried call gets the first answer.
  const db = openBooks(options.dataDir);
  // Each answer is on disk before it is given, by an fsync off the event loop shared by every
  // answer of the meantime, as in the system's own stores (synchronous=FULL held the loop per write).
  const wal = options.dataDir ? new WalSync(join(options.dataDir, 'simulated-gateway.sqlite-wal')) : undefined;
  const durable = () => wal?.sync() ?? Promise.resolve();
  const sql = {
    authorization: db.prepare<[string], { result: string }>('SELECT result FROM authorizations WHERE idempotency_key = ?'),
    authorize: db.prepare<[string, string]>('INSERT OR IGNORE INTO authorizations (idempotency_key, result) VALUES (?, ?)'),
    capture: db.prepare<[string], { capture_id: string; payment_id: string }>('SELECT capture_id, payment_id FROM captures WHERE idempotency_key = ?'),
    addCapture: db.prepare<[string, string, string, number]>(
      'INSERT OR IGNORE INTO captures (idempotency_key, capture_id, payment_id, amount) VALUES (?, ?, ?, ?)',
    ),
    refund: db.prepare<[string], { refund_id: string }>('SELECT refund_id FROM refunds WHERE idempotency_key = ?'),
    addRefund: db.prepare<[string, string, number]>('INSERT OR IGNORE INTO refunds (idempotency_key, refund_id, amount) VALUES (?, ?, ?)'),
    ledger: db.prepare<[], SimulatedLedger>(
      'SELECT (SELECT coalesce(sum(amount), 0) FROM captures) AS captured, (SELECT coalesce(sum(amount), 0) FROM refunds) AS refunded',
    ),
  };
  const knownAuthorization = (key: string) => {
    const row = sql.authorization.get(key);
    return row ? (JSON.parse(row.result) as AuthorizeResult) : undefined;
  };

  const scenarioOf = (token: string): Scenario => {
    const match = /^tok_sim_([a-z]+)_[0-9a-f]+$/.exec(token);
    const scenario = match?.[1] as Scenario | undefined;
    return scenario !== undefined && scenarios.includes(scenario) ? scenario : 'unknown';
  };

  return {
    async tokenize({ number }) {
      const digits = number.replace(/[\s-]/g, '');
      if (!/^\d{12,19}$/.test(digits)) throw new InvalidCardError('card must be 12-19 digits');
      const scenario: Scenario = TEST_CARDS[digits as keyof typeof TEST_CARDS] ?? 'unknown';
      return { token: `tok_sim_${scenario}_${randomHex()}`, last4: digits.slice(-4) };
    },

    async authorize({ token, idempotencyKey }) {
      const known = knownAuthorization(idempotencyKey);
      if (known) return known;
      const scenario = scenarioOf(token);
      let result: AuthorizeResult;
      switch (scenario) {
        case 'approve':
          result = { status: 'authorized', paymentId: `sim_${randomHex()}` };
          break;
        case 'decline':
          result = { status: 'declined', reason: 'card_declined', message: 'the card was declined' };
          break;
        case 'insufficient':
          result = { status: 'declined', reason: 'insufficient_funds', message: 'the card has insufficient funds' };
          break;
        case 'flaky': {
          const failures = failuresSoFar.get(token) ?? 0;
          if (failures < transientFailures) {
            failuresSoFar.set(token, failures + 1);
            throw new GatewayUnavailableError(`simulated transient failure ${failures + 1} of ${transientFailures}`);
          }
          failuresSoFar.delete(token);
          result = { status: 'authorized', paymentId: `sim_${randomHex()}` };
          break;
        }
        case 'late':
          // The provider authorizes at once but its answer is slow: a caller that dies while it
          // waits leaves an authorization that only a lookup by key will find.
          sql.authorize.run(idempotencyKey, JSON.stringify({ status: 'authorized', paymentId: `sim_${randomHex()}` }));
          await durable();
          await sleep(lateAnswerMs);
          return knownAuthorization(idempotencyKey)!;
        case 'unreachable':
          // Every try, for good: how operators and tests make a dead letter on purpose.
          throw new ProviderUnreachableError('simulated provider unreachable (test card 4000000000000341)');
        case 'unknown':
          result = { status: 'declined', reason: 'unknown_card', message: 'the card is not a known test card' };
          break;
        default: {
          const unreachable: never = scenario;
          throw new Error(`unknown scenario ${String(unreachable)}`);
        }
      }
      sql.authorize.run(idempotencyKey, JSON.stringify(result));
      await durable();
      return knownAuthorization(idempotencyKey)!;
    },
    async capture({ paymentId, amount, idempotencyKey }) {
      sql.addCapture.run(idempotencyKey, `cap_${randomHex()}`, paymentId, amount);
      await durable();
      return { captureId: sql.capture.get(idempotencyKey)!.capture_id };
    },
    async refund({ amount, idempotencyKey }) {
      sql.addRefund.run(idempotencyKey, `ref_${randomHex()}`, amount);
      await durable();
      return { refundId: sql.refund.get(idempotencyKey)!.refund_id };
    },
    async findCharge(idempotencyKey) {
      const captured = sql.capture.get(idempotencyKey);
      if (captured) return { status: 'captured', paymentId: captured.payment_id };
      const authorization = knownAuthorization(idempotencyKey);
      if (!authorization) return { status: 'unknown' };
      return authorization.status === 'authorized' ? { status: 'authorized', paymentId: authorization.paymentId } : authorization;
    },
    ledger: () => ({ ...sql.ledger.get()! }),
    close: () => {
      void wal?.close();
      db.close();
    },
  };
}

/** The provider's books: each answer by idempotency key, written durably before it is given. */
function openBooks(dataDir: string | undefined): Database.Database {
  // Owner-only, like every file of the data directory (the provider's books and the open attempts name orders).
  const file = dataDir ? join(dataDir, 'simulated-gateway.sqlite') : ':memory:';
  if (dataDir) {
    ensurePrivateDir(dataDir);
    ensurePrivateFiles(file);
  }
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  // Two payment processes opening a new file meet at the switch to WAL.
  switchToWal(db, 5_000);
  db.pragma('synchronous = NORMAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS authorizations (idempotency_key TEXT PRIMARY KEY, result TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS captures (idempotency_key TEXT PRIMARY KEY, capture_id TEXT NOT NULL, payment_id TEXT NOT NULL, amount INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS refunds (idempotency_key TEXT PRIMARY KEY, refund_id TEXT NOT NULL, amount INTEGER NOT NULL);
  `);
  return db;
}

/**
 * 12 random bytes as hex, cut from a pool filled 4 KiB at a time: every placed order takes a
 * token, and a randomBytes(12) call of its own cost ~3.4 us against ~0.13 us from the pool (microbench, 200k calls).
 */
function pooledRandomHex(): () => string {
  const pool = Buffer.alloc(4096);
  let offset = pool.length;
  return () => {
    if (offset + 12 > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    offset += 12;
    return pool.toString('hex', offset - 12, offset);
  };
}
