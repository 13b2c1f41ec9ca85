import { createHash } from 'node:crypto';
import { buildSagaMachine, statusOf, type SagaContext, type SagaMachine, type SagaSnapshot } from './machine';
import { sagaDefinition, stepRows, type SagaDefinition, type StepRow } from './export';
import { createSagaStepper, type SagaStepper } from './stepper';
import { sagaSteps, type SagaStep, type StepTable } from './steps';

/**
 * Every version of the saga's definition. A saga runs the version it started with (recorded in
 * its SagaStarted; streams from before versions are version 1); new sagas take the newest; an
 * operator may move a running saga to a newer version only where the newer one declares a
 * state for its current state (`migrateFrom`), and is refused with the declared reason otherwise.
 */
export interface SagaVersionDefinition {
  version: number;
  /** When this version was written (declared, so the hash and the answer never depend on a clock). */
  createdAt: string;
  summary: string;
  steps: StepTable;
  /**
   * From the version before: this version's state for each of that version's states an instance
   * may be moved from; every other state is refused with `refused[state]` (or the default reason).
   */
  migrateFrom?: { states: Record<string, string>; refused: Record<string, string> };
}

export interface SagaVersion extends SagaVersionDefinition {
  /** sha256 of the definition as the visualiser reads it (states, transitions, step table): any change shows. */
  hash: string;
  machine: SagaMachine;
  stepper: SagaStepper;
}

const runningStates = (table: StepTable) => table.flatMap((r) => (r.state ? [r.state] : []));
const identity = (states: string[]) => Object.fromEntries(states.map((s) => [s, s]));
const ended = 'the saga has ended: there is nothing left to run under another version';

/**
 * Version 2: the payment step re-sends its charge once before it fails. A ChargePayment lost on
 * its way (the payment service restarting, a lagging consumer) gets a second deadline instead of
 * rejecting a customer whose card is fine; the command id stays the same, so the provider charges
 * once whichever copy lands. Every other row is version 1's.
 */
const stepsV2: StepTable = sagaSteps.map((row): SagaStep => (row.step === 'chargePayment' ? { ...row, retriesBeforeFail: 1 } : row));

export const sagaVersionDefinitions: readonly SagaVersionDefinition[] = [
  { version: 1, createdAt: '2026-11-01T00:00:00.000Z', summary: 'The first saga: every step fails or retries on its first timeout.', steps: sagaSteps },
  {
    version: 2,
    createdAt: '2026-12-01T00:00:00.000Z',
    summary: 'The payment step re-sends its charge once (same command id) before it fails on a second timeout.',
    steps: stepsV2,
    // The states are the same; a running instance carries on where it is (a charge in flight gets the retry).
    migrateFrom: {
      states: identity(runningStates(sagaSteps)),
      refused: { completed: ended, rejected: ended, cancelled: ended },
    },
  },
];

function hashOf(definition: SagaDefinition): string {
  // The step timeout is configuration, not definition: left out so every process agrees on the hash.
  const { states, transitions, steps } = definition;
  return createHash('sha256').update(JSON.stringify({ states, transitions, steps })).digest('hex');
}

export const sagaVersions: readonly SagaVersion[] = sagaVersionDefinitions.map((d) => {
  const machine = buildSagaMachine(d.steps);
  return { ...d, machine, stepper: createSagaStepper(machine), hash: hashOf(sagaDefinition({ stepTimeoutMs: 0 }, machine, d.steps)) };
});

export const latestVersion: SagaVersion = sagaVersions[sagaVersions.length - 1]!;

export function sagaVersion(version: number): SagaVersion | undefined {
  return sagaVersions.find((v) => v.version === version);
}

/** The version a saga stream records (absent: version 1); throws on a version this build does not know. */
export function versionOrThrow(version: number | undefined): SagaVersion {
  const found = sagaVersion(version ?? 1);
  if (!found) throw new Error(`saga definition version ${version} is unknown to this build`);
  return found;
}

export const restoreIn = (version: SagaVersion, state: string, context: unknown): SagaSnapshot =>
  version.machine.resolveState({ value: state, context: context as SagaContext });

/** The definition document of a version: the visualiser's JSON plus its version, hash and date. */
export function versionDocument(version: SagaVersion, stepTimeoutMs: number): SagaDefinition & { version: number; hash: string; createdAt: string; summary: string } {
  return { ...sagaDefinition({ stepTimeoutMs }, version.machine, version.steps), version: version.version, hash: version.hash, createdAt: version.createdAt, summary: version.summary };
}

export function versionSummary(version: SagaVersion): { version: number; hash: string; createdAt: string; summary: string; steps: StepRow[] } {
  return { version: version.version, hash: version.hash, createdAt: version.createdAt, summary: version.summary, steps: stepRows(version.steps) };
}

export type Migration = { ok: true; to: string; snapshot: SagaSnapshot; target: SagaVersion } | { ok: false; reason: string };

/**
 * Where a saga in `state` under `from` lands under `toVersion`, hop by hop through each
 * version's declared mapping; refused with the reason when any hop does not map it.
 */
export function planMigration(from: SagaVersion, state: string, context: unknown, toVersion: number): Migration {
  const target = sagaVersion(toVersion);
  if (!target) return { ok: false, reason: `there is no saga definition version ${toVersion} (known: ${sagaVersions.map((v) => v.version).join(', ')})` };
  if (toVersion <= from.version) return { ok: false, reason: `the saga runs version ${from.version}; it can only move to a newer version` };
  if (statusOf(state) !== 'running') return { ok: false, reason: ended };
  let at = state;
  for (const hop of sagaVersions.filter((v) => v.version > from.version && v.version <= toVersion)) {
    const mapped = hop.migrateFrom?.states[at];
    if (!mapped) {
      const why = hop.migrateFrom?.refused[at] ?? `version ${hop.version} declares no state for '${at}'`;
      return { ok: false, reason: `cannot move from '${at}' to version ${hop.version}: ${why}` };
    }
    at = mapped;
  }
  return { ok: true, to: at, snapshot: restoreIn(target, at, context), target };
}
