import { randomBytes } from 'node:crypto';
import { realSleep, type Sleep } from '../shared/runtime';
import { GatewayUnavailableError, InvalidCardError, type AuthorizeResult, type PaymentGateway } from './gateway';

/** The test cards and what each one does. Any other number is an unknown card. */
export const TEST_CARDS = {
  '4242424242424242': 'approve',
  '4000000000000002': 'decline',
  '4000000000009995': 'insufficient',
  '4000000000000119': 'flaky',
  '4000000000000259': 'late',
} as const;

export type Scenario = (typeof TEST_CARDS)[keyof typeof TEST_CARDS] | 'unknown';
const scenarios: readonly Scenario[] = ['approve', 'decline', 'insufficient', 'flaky', 'late', 'unknown'];

export interface SimulatedGatewayOptions {
  /** How long the `late` card takes to answer. Default: twice `stepTimeoutMs`. */
  lateAnswerMs?: number;
  /** The saga's payment step timeout (SAGA_STEP_TIMEOUT_MS). Default 30000. */
  stepTimeoutMs?: number;
  /** How many times the `flaky` card fails before it approves. Default 2. */
  transientFailures?: number;
  sleep?: Sleep;
  randomHex?: () => string;
}

/** Money the simulated provider moved, for tests that check the books balance. */
export interface SimulatedLedger {
  captured: number;
  refunded: number;
}

export type SimulatedGateway = PaymentGateway & { ledger(): SimulatedLedger };

/**
 * A provider simulated by test card. The token names the card's scenario and a random part,
 * never the number (nor a hash of it, which 16 mostly-known digits would make guessable), so
 * it survives a restart without the gateway remembering anything about the card.
 */
export function createSimulatedGateway(options: SimulatedGatewayOptions = {}): SimulatedGateway {
  const sleep = options.sleep ?? realSleep;
  const lateAnswerMs = options.lateAnswerMs ?? 2 * (options.stepTimeoutMs ?? 30_000);
  const transientFailures = options.transientFailures ?? 2;
  const randomHex = options.randomHex ?? (() => randomBytes(12).toString('hex'));
  const failuresSoFar = new Map<string, number>();
  // Answers by idempotency key, as a provider would: a retried call gets the first answer.
  const authorizations = new Map<string, AuthorizeResult>();
  const captures = new Map<string, { captureId: string }>();
  const refunds = new Map<string, { refundId: string }>();
  const ledger: SimulatedLedger = { captured: 0, refunded: 0 };

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
      const known = authorizations.get(idempotencyKey);
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
          await sleep(lateAnswerMs);
          result = { status: 'authorized', paymentId: `sim_${randomHex()}` };
          break;
        case 'unknown':
          result = { status: 'declined', reason: 'unknown_card', message: 'the card is not a known test card' };
          break;
        default: {
          const unreachable: never = scenario;
          throw new Error(`unknown scenario ${String(unreachable)}`);
        }
      }
      authorizations.set(idempotencyKey, result);
      return result;
    },

    async capture({ amount, idempotencyKey }) {
      const known = captures.get(idempotencyKey);
      if (known) return known;
      const capture = { captureId: `cap_${randomHex()}` };
      captures.set(idempotencyKey, capture);
      ledger.captured += amount;
      return capture;
    },

    async refund({ amount, idempotencyKey }) {
      const known = refunds.get(idempotencyKey);
      if (known) return known;
      const refund = { refundId: `ref_${randomHex()}` };
      refunds.set(idempotencyKey, refund);
      ledger.refunded += amount;
      return refund;
    },

    ledger: () => ({ ...ledger }),
  };
}
