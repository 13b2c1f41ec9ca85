import { describe } from 'vitest';
import { eventStoreContract } from './contract';
import { openEsdbEventStore } from './esdb';

const url = process.env.EVENTSTORE_URL;
if (!url) console.warn('EventStoreDB contract skipped: set EVENTSTORE_URL (e.g. esdb://localhost:2113?tls=false) to run it');

describe.skipIf(!url)('EventStoreDB adapter', () => {
  eventStoreContract('eventstoredb', async () => {
    const store = await openEsdbEventStore({ url: url!, pageSize: 64 });
    return { store, cleanup: () => store.close() };
  });
});
