import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { openMongoDocumentStore } from '@saga/platform/document-store/mongo';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { ConflictError } from '@saga/platform/errors';
import { createUserStore } from './user-store';

/**
 * Two gateways = two user stores, each on its own connection to one database: a registration
 * race on one email must give one account and one 409, and never replace the winner's password.
 */
async function raceRegistrations(openTwo: () => Promise<[DocumentStore, DocumentStore]>, cleanUp = false) {
  const [docsA, docsB] = await openTwo();
  const [a, b] = [await createUserStore(docsA), await createUserStore(docsB)];
  for (let i = 0; i < 8; i++) {
    const email = `race${i}@example.com`;
    const results = await Promise.allSettled([
      a.register({ email, password: 'password-of-a', name: 'A' }),
      b.register({ email: email.toUpperCase(), password: 'password-of-b', name: 'B' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(ConflictError);
    const winner = results[0]!.status === 'fulfilled' ? 'a' : 'b';
    // The winner's password works on either gateway; the loser's nowhere.
    expect(await b.authenticate(email, `password-of-${winner}`)).toMatchObject({ email, name: winner.toUpperCase() });
    expect(await a.authenticate(email, `password-of-${winner === 'a' ? 'b' : 'a'}`)).toBeNull();
  }
  if (cleanUp) await docsA.dropCollection('users');
  await Promise.all([docsA.close(), docsB.close()]);
}

describe('user store registration race', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-race-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('on one SQLite file: one 201, one 409, no password overwritten', async () => {
    await raceRegistrations(async () => [await openSqliteDocumentStore({ dataDir: dir }), await openSqliteDocumentStore({ dataDir: dir })]);
  }, 60_000);

  const url = process.env.MONGODB_URL;
  if (!url) console.warn('user-store.int.spec: MONGODB_URL is not set; skipping the MongoDB registration race');
  it.skipIf(!url)(`on one MongoDB database (${process.env.MONGODB_SERVER ?? 'mongodb'}): one 201, one 409`, async () => {
    const dbName = `users_race_${randomUUID().slice(0, 8)}`;
    await raceRegistrations(
      async () => [await openMongoDocumentStore({ url: url ?? '', dbName }), await openMongoDocumentStore({ url: url ?? '', dbName })],
      true,
    );
  }, 60_000);
});
