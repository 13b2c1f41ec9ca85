import { afterEach, describe, expect, it } from 'vitest';
import type { OrderId } from '@saga/event-schemas/ids';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { deterministicId } from '@saga/platform/ids';
import { envelopeOf, fixedClock, tempDataDir } from '../shared/test-support';
import { createEmailHandlers } from './handlers';
import { createNodemailerMailer } from './nodemailer-mailer';

let store: EventStore;
afterEach(async () => store?.close());

async function setup() {
  store = await openSqliteEventStore({ dataDir: tempDataDir('email') });
  const slept: number[] = [];
  const emails = createEmailHandlers({ store, mailer: createNodemailerMailer(), clock: fixedClock(), sleep: async (ms) => void slept.push(ms) });
  return { emails, slept };
}

describe('email handlers on the SQLite event store, nodemailer JSON transport', () => {
  it('sends the confirmation and records subject and body for the mailbox', async () => {
    const { emails } = await setup();
    const command = envelopeOf('SendEmail', {
      orderId: 'o-1' as OrderId,
      to: 'alice@example.com',
      template: 'order-confirmed',
      data: { orderId: 'o-1', total: 4900, currency: 'EUR', items: 2 },
    });
    await emails.handleSagaCommand(command);
    expect(await emails.handleSagaCommand(command)).toEqual({ kind: 'ignored', reason: 'AlreadyHandled' });
    const events = await store.readStream(streamIdFor.email('o-1'));
    expect(events.map((e) => ({ type: e.type, data: e.data }))).toEqual([
      {
        type: 'EmailSent',
        data: {
          orderId: 'o-1',
          emailId: deterministicId(command.commandId, 'email'),
          to: 'alice@example.com',
          template: 'order-confirmed',
          subject: 'Your order o-1 is confirmed',
          body: 'Thank you for your order.\n\nOrder: o-1\nItems: 2\nTotal charged: 49.00 EUR\n\nWe will let you know when it ships.',
          attempts: 1,
        },
      },
    ]);
  });

  it('a recipient at fail.test fails every try, with backoff, and EmailFailed is recorded', async () => {
    const { emails, slept } = await setup();
    const command = envelopeOf('SendEmail', { orderId: 'o-2' as OrderId, to: 'bob@fail.test', template: 'order-rejected', data: { reason: 'payment declined' } });
    await emails.handleSagaCommand(command);
    expect(slept).toEqual([100, 200]);
    expect((await store.readStream(streamIdFor.email('o-2'))).map((e) => ({ type: e.type, data: e.data }))).toEqual([
      {
        type: 'EmailFailed',
        data: {
          orderId: 'o-2',
          emailId: deterministicId(command.commandId, 'email'),
          to: 'bob@fail.test',
          template: 'order-rejected',
          error: 'simulated delivery failure to bob@fail.test',
          attempts: 3,
        },
      },
    ]);
  });
});
