import { useState } from 'react';
import type { DeadLetter, OperatorAction, SagaDefinitionVersion, SagaInstance, StuckCondition, WhatIfResult } from '../api';
import { useSession } from '../session';
import { useAction, useResource } from '../hooks';
import { shortId } from '../format';
import { Empty, JsonView, ProblemBox, Spinner, TimeOf } from './ui';

/** The stuck condition as a sentence, whatever detail the server gives. */
export function stuckText(stuck: SagaInstance['stuck']): string | null {
  if (!stuck) return null;
  if (stuck === true) return 'stuck: a command or event could not get through';
  const s = stuck as StuckCondition;
  const why = [s.reason, typeof s.error === 'string' ? s.error : undefined].filter(Boolean).join(', ');
  return `stuck${s.step ?? s.state ? ` in ${s.step ?? s.state}` : ''}${why ? `: ${why}` : ''}`;
}

const actions: { action: OperatorAction; label: string; hint: string }[] = [
  { action: 'retry-step', label: 'Retry step', hint: 'send the waiting step’s command again' },
  { action: 'skip-step', label: 'Skip step', hint: 'treat the waiting step as done and go on' },
  { action: 'compensate', label: 'Compensate', hint: 'undo the steps already done, in reverse' },
];

/**
 * What an operator can do to one saga (admin): act on its waiting step, migrate it to a newer
 * definition, ask what another definition would have done with its history, and see its dead
 * letters. Every action is recorded in the saga's history with the operator and the reason.
 */
export function SagaOperator({
  saga,
  definitions,
  onWhatIf,
  onChanged,
}: {
  saga: SagaInstance;
  definitions: SagaDefinitionVersion[] | undefined;
  onWhatIf: (result: WhatIfResult | undefined) => void;
  onChanged: () => void;
}) {
  return (
    <section className="card operator" aria-labelledby="operator-title" data-testid="saga-operator">
      <h2 id="operator-title">Operate</h2>
      <p className="small">
        Runs definition{' '}
        <strong data-testid="saga-version">{saga.version !== undefined ? `v${saga.version}` : 'unversioned'}</strong>
        {saga.stuck ? (
          <>
            {' · '}
            <span className="badge badge-stuck" data-testid="saga-stuck">
              {stuckText(saga.stuck)}
            </span>
          </>
        ) : null}
      </p>
      <Actions saga={saga} onChanged={onChanged} />
      <Migrate saga={saga} definitions={definitions} onChanged={onChanged} />
      <WhatIf saga={saga} definitions={definitions} onResult={onWhatIf} />
      <SagaDeadLetters orderId={saga.orderId} onChanged={onChanged} />
    </section>
  );
}

function Actions({ saga, onChanged }: { saga: SagaInstance; onChanged: () => void }) {
  const { api } = useSession();
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState<OperatorAction | null>(null);
  const [done, setDone] = useState<string>();
  const run = useAction(async (action: OperatorAction) => {
    setDone(undefined);
    await api.sagaAction(saga.orderId, action, reason.trim());
    setDone(`${action} accepted; it is now in the saga’s history.`);
    setConfirming(null);
    onChanged();
  });
  const ended = saga.status !== 'running';
  return (
    <div className="operator-block">
      <h3>Act on the waiting step</h3>
      <label className="field">
        <span>Reason (recorded with your id)</span>
        <input className="text" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. provider is back up" data-testid="action-reason" />
      </label>
      <div className="row wrap">
        {actions.map((a) =>
          confirming === a.action ? (
            <button key={a.action} type="button" className="button small danger" onClick={() => void run.start(a.action)} disabled={run.pending} data-testid={`action-confirm-${a.action}`}>
              Confirm {a.label.toLowerCase()}
            </button>
          ) : (
            <button
              key={a.action}
              type="button"
              className="button small"
              title={a.hint}
              // Undoing is not undone: compensation asks once more.
              onClick={() => (a.action === 'compensate' ? setConfirming(a.action) : void run.start(a.action))}
              disabled={run.pending}
              data-testid={`action-${a.action}`}
            >
              {a.label}
            </button>
          ),
        )}
        {confirming ? (
          <button type="button" className="button small" onClick={() => setConfirming(null)}>
            Cancel
          </button>
        ) : null}
      </div>
      {ended && !saga.stuck ? <p className="muted small">The saga has ended ({saga.status}); the server refuses actions it no longer allows.</p> : null}
      <ProblemBox error={run.error} fields={[]} />
      {done ? (
        <p className="ok small" role="status" data-testid="action-result">
          {done}
        </p>
      ) : null}
    </div>
  );
}

function Migrate({ saga, definitions, onChanged }: { saga: SagaInstance; definitions: SagaDefinitionVersion[] | undefined; onChanged: () => void }) {
  const { api } = useSession();
  const newer = (definitions ?? []).filter((d) => saga.version === undefined || d.version > saga.version).sort((a, b) => b.version - a.version);
  const [to, setTo] = useState<number | null>(null);
  const target = to ?? newer[0]?.version ?? null;
  const [done, setDone] = useState<string>();
  const migrate = useAction(async () => {
    if (target === null) return;
    setDone(undefined);
    await api.migrateSaga(saga.orderId, target);
    setDone(`Migration to v${target} accepted.`);
    onChanged();
  });
  return (
    <div className="operator-block">
      <h3>Migrate</h3>
      {definitions === undefined ? (
        <p className="muted small">The server lists no saga definition versions.</p>
      ) : newer.length === 0 ? (
        <p className="muted small" data-testid="migrate-none">
          No newer definition than v{saga.version}.
        </p>
      ) : (
        <div className="row wrap">
          <select value={target ?? ''} onChange={(e) => setTo(Number(e.target.value))} aria-label="Migrate to version" data-testid="migrate-version">
            {newer.map((d) => (
              <option key={d.version} value={d.version}>
                v{d.version} ({d.hash.slice(0, 8)})
              </option>
            ))}
          </select>
          <button type="button" className="button small" onClick={() => void migrate.start()} disabled={migrate.pending} data-testid="migrate-submit">
            Migrate to v{target}
          </button>
        </div>
      )}
      <p className="muted small">Only where its current state maps to the newer definition; otherwise the server says why not.</p>
      <ProblemBox error={migrate.error} />
      {done ? (
        <p className="ok small" role="status" data-testid="migrate-result">
          {done}
        </p>
      ) : null}
    </div>
  );
}

function WhatIf({ saga, definitions, onResult }: { saga: SagaInstance; definitions: SagaDefinitionVersion[] | undefined; onResult: (r: WhatIfResult | undefined) => void }) {
  const { api } = useSession();
  const versions = [...(definitions ?? [])].sort((a, b) => b.version - a.version);
  const [choice, setChoice] = useState<string>('');
  const [pasted, setPasted] = useState('');
  const [result, setResult] = useState<WhatIfResult>();
  const [parseError, setParseError] = useState<string>();
  const picked = choice || (versions[0] ? String(versions[0].version) : 'paste');
  const ask = useAction(async () => {
    setParseError(undefined);
    let against: { version: number } | { definition: unknown };
    if (picked === 'paste') {
      try {
        against = { definition: JSON.parse(pasted) as unknown };
      } catch (err) {
        setParseError(`Not JSON: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    } else against = { version: Number(picked) };
    const r = await api.whatIf(saga.orderId, against);
    setResult(r);
    onResult(r);
  });
  return (
    <div className="operator-block" data-testid="whatif">
      <h3>What if…</h3>
      <p className="muted small">Replays this saga’s recorded inputs, at their recorded times, against another definition. Nothing is changed.</p>
      <div className="row wrap">
        <select value={picked} onChange={(e) => setChoice(e.target.value)} aria-label="Definition to replay against" data-testid="whatif-version">
          {versions.map((d) => (
            <option key={d.version} value={d.version}>
              v{d.version}
              {d.version === saga.version ? ' (its own)' : ''}
            </option>
          ))}
          <option value="paste">a definition I paste…</option>
        </select>
        <button type="button" className="button small primary" onClick={() => void ask.start()} disabled={ask.pending} data-testid="whatif-run">
          {ask.pending ? 'Replaying…' : 'Replay'}
        </button>
        {result ? (
          <button
            type="button"
            className="button small"
            onClick={() => {
              setResult(undefined);
              onResult(undefined);
            }}
          >
            Clear
          </button>
        ) : null}
      </div>
      {picked === 'paste' ? (
        <label className="field">
          <span>Definition (JSON, as GET /api/saga-definition gives it)</span>
          <textarea className="text" rows={5} value={pasted} onChange={(e) => setPasted(e.target.value)} data-testid="whatif-definition" />
        </label>
      ) : null}
      {parseError ? <p className="field-error">{parseError}</p> : null}
      <ProblemBox error={ask.error} />
      {result ? <WhatIfAnswer result={result} /> : null}
    </div>
  );
}

const stopName = (s: WhatIfResult['original'][number] | undefined): string => {
  if (s === undefined) return '—';
  if (typeof s === 'string') return s;
  const input = typeof s.input === 'string' ? s.input : s.input?.type ?? s.event;
  return `${String(s.to ?? s.state ?? '?')}${input ? ` (on ${input})` : ''}`;
};

function WhatIfAnswer({ result }: { result: WhatIfResult }) {
  const rows = Math.max(result.original.length, result.replayed.length);
  return (
    <div className="whatif-answer">
      <p className={result.divergesAt === null ? 'ok small' : 'warn small'} data-testid="whatif-diverges" data-diverges-at={result.divergesAt ?? ''}>
        {result.divergesAt === null
          ? 'Same path: the other definition would have done exactly what this one did.'
          : `The paths part at step ${result.divergesAt}: ${stopName(result.replayed[result.divergesAt])} instead of ${stopName(result.original[result.divergesAt])}. Both are drawn on the chart (replay dashed, w-numbers).`}
      </p>
      <div className="table-wrap">
        <table className="table compact" data-testid="whatif-paths">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Recorded</th>
              <th scope="col">What-if</th>
            </tr>
          </thead>
          <tbody>
            {Array.from({ length: rows }, (_, i) => (
              <tr key={i} className={result.divergesAt !== null && i >= result.divergesAt ? 'diverged' : undefined}>
                <td>{i}</td>
                <td>{stopName(result.original[i])}</td>
                <td>{stopName(result.replayed[i])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {result.commands.length ? (
        <details>
          <summary className="small">Commands the replay would issue ({result.commands.length})</summary>
          <ol className="small whatif-commands">
            {result.commands.map((c, i) => {
              const cmd = (c && typeof c === 'object' ? c : {}) as { at?: unknown; type?: unknown; step?: unknown };
              return (
                <li key={i}>
                  {typeof cmd.at === 'number' ? `at step ${cmd.at}: ` : ''}
                  <code>{typeof cmd.type === 'string' ? cmd.type : JSON.stringify(c)}</code>
                  {typeof cmd.step === 'string' ? <span className="muted"> ({cmd.step})</span> : null}
                </li>
              );
            })}
          </ol>
          <JsonView value={result.commands} />
        </details>
      ) : null}
    </div>
  );
}

/** How many pages of the dead-letter list are read to find one saga's (the list has no order filter). */
const SCAN_PAGES = 5;

async function deadLettersOf(api: ReturnType<typeof useSession>['api'], orderId: string): Promise<{ items: DeadLetter[]; complete: boolean }> {
  const items: DeadLetter[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < SCAN_PAGES; i++) {
    const page = await api.deadLetters(cursor, 100);
    items.push(...page.items.filter((d) => d.orderId === orderId));
    if (!page.nextCursor) return { items, complete: true };
    cursor = page.nextCursor;
  }
  return { items, complete: false };
}

function SagaDeadLetters({ orderId, onChanged }: { orderId: string; onChanged: () => void }) {
  const { api } = useSession();
  const list = useResource(() => deadLettersOf(api, orderId), [orderId]);
  return (
    <div className="operator-block" data-testid="saga-dead-letters">
      <h3>Dead letters {list.loading ? <Spinner label="Reading" /> : null}</h3>
      <ProblemBox error={list.error} onRetry={list.reload} />
      {list.data && list.data.items.length === 0 ? <Empty>None for this saga{list.data.complete ? '' : ' among the newest 500'}.</Empty> : null}
      {list.data?.items.length ? (
        <DeadLetterTable
          items={list.data.items}
          onChanged={() => {
            list.reload();
            onChanged();
          }}
        />
      ) : null}
    </div>
  );
}

/** Dead letters with their retry and discard buttons; shared by a saga's panel and the operator page. */
export function DeadLetterTable({ items, onChanged, showOrder = false }: { items: DeadLetter[]; onChanged: () => void; showOrder?: boolean }) {
  const { api } = useSession();
  // What was done to a letter stays shown, also once the reloaded list no longer holds it (a retried letter
  // leaves the list; its redelivery may fail again and come back as a new one).
  const [acted, setActed] = useState<Record<string, { letter: DeadLetter; outcome: string }>>({});
  const act = useAction(async (id: string, what: 'retry' | 'discard') => {
    const letter = items.find((d) => d.id === id);
    await (what === 'retry' ? api.retryDeadLetter(id) : api.discardDeadLetter(id));
    if (letter) setActed((o) => ({ ...o, [id]: { letter, outcome: what === 'retry' ? 'retried' : 'discarded' } }));
    onChanged();
  });
  const outcome: Record<string, string> = Object.fromEntries(Object.entries(acted).map(([id, a]) => [id, a.outcome]));
  const rows = [...items, ...Object.values(acted).map((a) => a.letter).filter((l) => !items.some((d) => d.id === l.id))];
  return (
    <>
      <ProblemBox error={act.error} />
      <ul className="dead-letters">
        {rows.map((d) => (
          <li key={d.id} data-testid={`dead-letter-${d.id}`} data-order-id={d.orderId ?? ''}>
            <div>
              <code>{d.topic}</code>
              {showOrder && d.orderId ? (
                <>
                  {' · '}
                  <a href={`#/sagas/${encodeURIComponent(d.orderId)}`} title={d.orderId}>
                    saga {shortId(d.orderId)}
                  </a>
                </>
              ) : null}
              <span className="muted small">
                {' '}
                · {d.attempts} attempt{d.attempts === 1 ? '' : 's'} · last <TimeOf at={d.lastFailedAt} />
              </span>
            </div>
            <div className="small">{d.reason}</div>
            <details>
              <summary className="small muted">message</summary>
              <JsonView value={d.message} />
            </details>
            {outcome[d.id] ? (
              <span className="ok small" data-testid={`dead-letter-outcome-${d.id}`}>
                {outcome[d.id]}
              </span>
            ) : (
              <div className="row">
                <button type="button" className="button small" onClick={() => void act.start(d.id, 'retry')} disabled={act.pending} data-testid={`dead-letter-retry-${d.id}`}>
                  Retry
                </button>
                <button type="button" className="button small" onClick={() => void act.start(d.id, 'discard')} disabled={act.pending} data-testid={`dead-letter-discard-${d.id}`}>
                  Discard
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
