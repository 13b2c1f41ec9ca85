import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayUnavailableError, InvalidCardError, ProviderUnreachableError } from './gateway';
import { createSimulatedGateway } from './simulated-gateway';

const request = (token: string, idempotencyKey = 'cmd-1') => ({ token, amount: 1000, currency: 'EUR', idempotencyKey });

describe('simulated gateway', () => {
  it('tokens keep the last four digits but never the card number', async () => {
    const gateway = createSimulatedGateway({ randomHex: () => 'abc123' });
    expect(await gateway.tokenize({ number: '4242 4242 4242 4242' })).toEqual({ token: 'tok_sim_approve_abc123', last4: '4242' });
    const { token } = await createSimulatedGateway().tokenize({ number: '4000000000000002' });
    expect(token).toMatch(/^tok_sim_decline_[0-9a-f]{24}$/);
    expect(token).not.toContain('4000000000000002');
  });

  it('4000000000000341: the provider is unreachable on every try, and never records a charge', async () => {
    const gateway = createSimulatedGateway();
    const { token } = await gateway.tokenize({ number: '4000000000000341' });
    for (let i = 0; i < 5; i++) {
      await expect(gateway.authorize({ token, amount: 100, currency: 'EUR', idempotencyKey: 'k-341' })).rejects.toBeInstanceOf(ProviderUnreachableError);
    }
    // Unavailable to the payment service's retry (it backs off and tries again), but nothing reached the provider.
    expect(new ProviderUnreachableError('x')).toBeInstanceOf(GatewayUnavailableError);
    expect(await gateway.findCharge('k-341')).toEqual({ status: 'unknown' });
  });

  it('refuses what is not a card number', async () => {
    await expect(createSimulatedGateway().tokenize({ number: '42' })).rejects.toBeInstanceOf(InvalidCardError);
  });

  it('answers by test card', async () => {
    const gateway = createSimulatedGateway({ randomHex: () => 'f00' });
    const tokenOf = async (number: string) => (await gateway.tokenize({ number })).token;
    expect(await gateway.authorize(request(await tokenOf('4242424242424242'), 'a'))).toEqual({ status: 'authorized', paymentId: 'sim_f00' });
    expect(await gateway.authorize(request(await tokenOf('4000000000000002'), 'b'))).toEqual({
      status: 'declined',
      reason: 'card_declined',
      message: 'the card was declined',
    });
    expect(await gateway.authorize(request(await tokenOf('4000000000009995'), 'c'))).toEqual({
      status: 'declined',
      reason: 'insufficient_funds',
      message: 'the card has insufficient funds',
    });
    expect(await gateway.authorize(request(await tokenOf('5555555555554444'), 'd'))).toEqual({
      status: 'declined',
      reason: 'unknown_card',
      message: 'the card is not a known test card',
    });
    expect(await gateway.authorize(request('tok_forged', 'e'))).toMatchObject({ status: 'declined', reason: 'unknown_card' });
  });

  it('the flaky card fails twice, then approves', async () => {
    const gateway = createSimulatedGateway({ randomHex: () => '1' });
    const { token } = await gateway.tokenize({ number: '4000000000000119' });
    await expect(gateway.authorize(request(token))).rejects.toBeInstanceOf(GatewayUnavailableError);
    await expect(gateway.authorize(request(token))).rejects.toBeInstanceOf(GatewayUnavailableError);
    expect(await gateway.authorize(request(token))).toEqual({ status: 'authorized', paymentId: 'sim_1' });
  });

  it('the late card answers after three step timeouts (past version 2\'s second deadline), then approves', async () => {
    const slept: number[] = [];
    const gateway = createSimulatedGateway({ stepTimeoutMs: 500, sleep: async (ms) => void slept.push(ms), randomHex: () => '2' });
    const { token } = await gateway.tokenize({ number: '4000000000000259' });
    expect(await gateway.authorize(request(token))).toEqual({ status: 'authorized', paymentId: 'sim_2' });
    expect(slept).toEqual([1500]);
  });

  it('a retried call with the same idempotency key moves money once', async () => {
    const gateway = createSimulatedGateway();
    const { token } = await gateway.tokenize({ number: '4242424242424242' });
    const first = await gateway.authorize(request(token, 'k'));
    expect(await gateway.authorize(request(token, 'k'))).toEqual(first);
    const capture = { paymentId: 'sim_x', amount: 1000, currency: 'EUR', idempotencyKey: 'k' };
    expect(await gateway.capture(capture)).toEqual(await gateway.capture(capture));
    await gateway.refund({ ...capture, idempotencyKey: 'r' });
    await gateway.refund({ ...capture, idempotencyKey: 'r' });
    expect(gateway.ledger()).toEqual({ captured: 1000, refunded: 1000 });
  });

  it('remembers every charge across a restart and finds it by idempotency key', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-gateway-'));
    const before = createSimulatedGateway({ dataDir, randomHex: () => 'e5' });
    const approve = (await before.tokenize({ number: '4242424242424242' })).token;
    const decline = (await before.tokenize({ number: '4000000000000002' })).token;
    await before.authorize(request(approve, 'captured'));
    await before.capture({ paymentId: 'sim_e5', amount: 1000, currency: 'EUR', idempotencyKey: 'captured' });
    await before.authorize(request(approve, 'authorized'));
    await before.authorize(request(decline, 'declined'));
    before.close();

    const after = createSimulatedGateway({ dataDir, randomHex: () => 'f6' });
    expect(await after.findCharge('captured')).toEqual({ status: 'captured', paymentId: 'sim_e5' });
    expect(await after.findCharge('authorized')).toEqual({ status: 'authorized', paymentId: 'sim_e5' });
    expect(await after.findCharge('declined')).toEqual({ status: 'declined', reason: 'card_declined', message: 'the card was declined' });
    expect(await after.findCharge('never-sent')).toEqual({ status: 'unknown' });
    // A retried call after the restart still gets the first answer.
    expect(await after.authorize(request(approve, 'authorized'))).toEqual({ status: 'authorized', paymentId: 'sim_e5' });
    expect(after.ledger()).toEqual({ captured: 1000, refunded: 0 });
    after.close();
  });
});

describe('the payment files of an embedded install', () => {
  it('are owner-only (0600 in a 0700 dir), like the rest of the data directory', async () => {
    const { openAttemptIndex } = await import('./open-attempts');
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'payment-perms-')), 'data');
    const previous = process.umask(0o022); // the usual umask, under which files come out 0644
    try {
      const books = createSimulatedGateway({ dataDir });
      const attempts = openAttemptIndex(dataDir);
      attempts.open('order-1', 'key-1');
      const modes = Object.fromEntries(fs.readdirSync(dataDir).map((f) => [f, (fs.statSync(path.join(dataDir, f)).mode & 0o777).toString(8)]));
      expect(Object.keys(modes)).toEqual(expect.arrayContaining(['simulated-gateway.sqlite', 'payment-attempts.sqlite', 'payment-attempts.sqlite-wal']));
      expect(modes).toEqual(Object.fromEntries(Object.keys(modes).map((f) => [f, '600'])));
      expect((fs.statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
      books.close();
      attempts.closeIndex();
    } finally {
      process.umask(previous);
      fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });
});
