/**
 * `npm run rebuild -- <projection|all>`: rebuilds read models from the event store (the
 * embedded one in DATA_DIR, or the servers the environment names) with a progress bar.
 * The live read model keeps serving until each swap. Like a rebuild through the API, it holds
 * the projection's rebuild lease (a gateway's rebuild of the same projection is refused while
 * it runs, and the other way round) and pauses every projector replica of the running system
 * through the bus across the swap.
 */
import { randomUUID } from 'node:crypto';
import cliProgress from 'cli-progress';
import { loadConfig } from '@saga/platform/config';
import { openAdapters } from '@saga/platform/adapters';
import { allProjections, projectionNames } from './projectors/registry';
import { busHandover } from './rebuild/control';
import { acquireLease } from './rebuild/lease';
import { rebuildProjection } from './rebuild/rebuild';

async function main(argv: string[]): Promise<number> {
  const target = argv[0];
  if (!target || (target !== 'all' && !projectionNames.includes(target))) {
    console.error(`usage: npm run rebuild -- <${[...projectionNames, 'all'].join('|')}>`);
    return 2;
  }
  const config = loadConfig();
  // The same adapters as the running system: SQLite in DATA_DIR, or the servers the environment names.
  const adapters = await openAdapters(config, 'order-saga-rebuild-cli');
  const { store: eventStore, docs: documentStore, bus } = adapters;
  const chosen = target === 'all' ? allProjections : allProjections.filter((p) => p.name === target);
  try {
    for (const projection of chosen) {
      const bar = new cliProgress.SingleBar(
        { noTTYOutput: true, notTTYSchedule: 1000, format: `${projection.name.padEnd(9)} [{bar}] {percentage}% | {phase} | {events} events | {rate} ev/s | eta {eta_s}s` },
        cliProgress.Presets.shades_classic,
      );
      bar.start(1, 0, { phase: 'starting', events: 0, rate: 0, eta_s: '?' });
      const lease = await acquireLease(documentStore, { projection: projection.name, holder: `rebuild-cli:${process.pid}`, rebuildId: randomUUID() });
      const live = busHandover({ bus, store: documentStore, projection: projection.name, lease });
      const result = await rebuildProjection({ eventStore, documentStore, live }, projection, {
        onProgress: (p) => {
          bar.setTotal(Math.max(p.total ?? p.eventsDone, 1));
          bar.update(p.eventsDone, { phase: p.handover && p.phase === 'catching-up' ? `${p.handover.state} ${p.handover.acknowledged}/${p.handover.replicas}` : p.phase, events: p.eventsDone, rate: p.rate, eta_s: p.etaSeconds ?? '?' });
        },
      }).finally(() => lease.release());
      bar.update(Math.max(result.total ?? result.eventsDone, 1));
      bar.stop();
      const v = result.verification;
      console.log(
        `${projection.name}: ${result.eventsDone} events, ${v?.shadowCount ?? 0} documents` +
          (v && v.differing > 0 ? ` (${v.differing} differed from the old read model, now replaced)` : ', identical to the old read model'),
      );
    }
    return 0;
  } finally {
    await adapters.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
