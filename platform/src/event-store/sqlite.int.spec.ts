import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventStoreContract } from './contract';
import { openSqliteEventStore } from './sqlite';

eventStoreContract('sqlite', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-store-'));
  const store = await openSqliteEventStore({ dataDir, pageSize: 50 });
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
