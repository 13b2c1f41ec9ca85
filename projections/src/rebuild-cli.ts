/**
 * `npm run rebuild -- <projection|all>`: rebuilds read models from the event store in
 * DATA_DIR with a progress bar. The live read model keeps serving until each swap.
 * Best run through the API (`POST /api/projections/:name/rebuild`) while the system runs,
 * since that one pauses the in-process projector across the swap; from here, the running
 * system's projector simply carries on against the swapped-in collection.
 */
import cliProgress from 'cli-progress';
import { loadConfig } from '@saga/platform/config';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { allProjections, projectionNames } from './projectors/registry';
import { rebuildProjection } from './rebuild/rebuild';

async function main(argv: string[]): Promise<number> {
  const target = argv[0];
  if (!target || (target !== 'all' && !projectionNames.includes(target))) {
    console.error(`usage: npm run rebuild -- <${[...projectionNames, 'all'].join('|')}>`);
    return 2;
  }
  const config = loadConfig();
  if (config.mode !== 'embedded') {
    console.error('the CLI rebuilds the embedded stores; in distributed mode use POST /api/projections/:name/rebuild');
    return 2;
  }
  const eventStore = await openSqliteEventStore({ dataDir: config.DATA_DIR });
  const documentStore = await openSqliteDocumentStore({ dataDir: config.DATA_DIR });
  const chosen = target === 'all' ? allProjections : allProjections.filter((p) => p.name === target);
  try {
    for (const projection of chosen) {
      const bar = new cliProgress.SingleBar(
        { format: `${projection.name.padEnd(9)} [{bar}] {percentage}% | {phase} | {events} events | {rate} ev/s | eta {eta_s}s` },
        cliProgress.Presets.shades_classic,
      );
      bar.start(1, 0, { phase: 'starting', events: 0, rate: 0, eta_s: '?' });
      const result = await rebuildProjection({ eventStore, documentStore }, projection, {
        onProgress: (p) => {
          bar.setTotal(Math.max(p.total, 1));
          bar.update(Math.max(p.position, 0), { phase: p.phase, events: p.eventsDone, rate: p.rate, eta_s: p.etaSeconds ?? '?' });
        },
      });
      bar.update(Math.max(result.total, 1));
      bar.stop();
      const v = result.verification;
      console.log(
        `${projection.name}: ${result.eventsDone} events, ${v?.shadowCount ?? 0} documents` +
          (v && v.differing > 0 ? ` (${v.differing} differed from the old read model, now replaced)` : ', identical to the old read model'),
      );
    }
    return 0;
  } finally {
    await documentStore.close();
    await eventStore.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
