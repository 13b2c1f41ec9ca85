import type { DeclineReason } from '@saga/event-schemas/payment';

/**
 * What the payment service needs of a card provider. The simulated gateway answers by test
 * card; a real provider (Stripe, Adyen...) plugs in here. Every money-moving call carries an
 * idempotency key (the saga command's id) so a retried call never charges twice.
 */
export interface PaymentGateway {
  /** Swaps a card number for a token; the number goes no further than this call. */
  tokenize(card: { number: string }): Promise<CardToken>;
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  capture(request: { paymentId: string; amount: number; currency: string; idempotencyKey: string }): Promise<{ captureId: string }>;
  refund(request: { paymentId: string; amount: number; currency: string; idempotencyKey: string }): Promise<{ refundId: string }>;
  /**
   * What the provider did with the charge of this idempotency key (its authorization and its
   * capture share the key): how an attempt interrupted by a crash is reconciled.
   */
  findCharge(idempotencyKey: string): Promise<ChargeLookup>;
}

export type ChargeLookup =
  | { status: 'unknown' }
  | { status: 'authorized'; paymentId: string }
  | { status: 'captured'; paymentId: string }
  | { status: 'declined'; reason: Exclude<DeclineReason, 'gateway_unavailable'>; message: string };

export interface CardToken {
  token: string;
  last4: string;
}

export interface AuthorizeRequest {
  token: string;
  amount: number;
  currency: string;
  idempotencyKey: string;
}

export type AuthorizeResult =
  | { status: 'authorized'; paymentId: string }
  | { status: 'declined'; reason: Exclude<DeclineReason, 'gateway_unavailable'>; message: string };

/** The provider could not answer now (timeout, 5xx); the same call may succeed if retried. */
export class GatewayUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayUnavailableError';
  }
}

/** The card number is not one the provider accepts at all (bad length or digits). */
export class InvalidCardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCardError';
  }
}

/**
 * The provider could not be reached at all (no route, connection refused, DNS): it never saw the
 * call, so there is no answer to record. Retried like any unavailability; when the retries run
 * out the command fails (and the bus dead-letters it after its own retries) instead of being
 * recorded as a decline the provider never gave.
 */
export class ProviderUnreachableError extends GatewayUnavailableError {
  /** How many times the payment service tried before it gave up (set by the handler). */
  attempts = 1;
  constructor(message: string) {
    super(message);
    this.name = 'ProviderUnreachableError';
  }
}
