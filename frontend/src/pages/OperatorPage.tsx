import { useEffect, useState } from 'react';
import type { DeadLetter, SagaInstance } from '../api';
import { useSession } from '../session';
import { useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { shortId } from '../format';
import { Link } from '../router';
import { Empty, PageHeader, ProblemBox, Spinner, StatusBadge, TimeOf } from '../components/ui';
import { DeadLetterTable, stuckText } from '../components/SagaOperator';
import { OpenById } from '../components/OpenById';

/**
 * The operator's desk (admin): what needs a hand now. Dead letters with their sagas, the sagas
 * they leave stuck, and the saga definition versions with how many instances run each.
 */
export function OperatorPage() {
  return (
    <div>
      <PageHeader title="Operator">
        <OpenById current={undefined} label="Saga of order" placeholder="order id" basePath="/sagas" />
      </PageHeader>
      <div className="operator-grid">
        <DeadLetters />
        <Definitions />
      </div>
    </div>
  );
}

function DeadLetters() {
  const { api } = useSession();
  const [cursor, setCursor] = useState<string | null>(null);
  const [trail, setTrail] = useState<(string | null)[]>([]);
  const page = useResource(() => api.deadLetters(cursor, 50), [cursor]);
  const reload = useThrottled(page.reload, 1000);
  useLive(['saga'], reload);
  const items = page.data?.items ?? [];
  return (
    <section className="card" aria-labelledby="dlq-title" data-testid="operator-dead-letters">
      <div className="card-head">
        <h2 id="dlq-title">Dead letters</h2>
        {page.loading ? <Spinner label="Reading dead letters" /> : null}
        <button type="button" className="button small" onClick={page.reload}>
          Refresh
        </button>
      </div>
      <p className="muted small">
        Messages a consumer gave up on after its retries. Retry republishes to the original topic (a failure is listed anew); discard closes it. Test card{' '}
        <code>4000000000000341</code> makes one on purpose.
      </p>
      <ProblemBox error={page.error} onRetry={page.reload} />
      {page.data && items.length === 0 ? <Empty>No dead letters.</Empty> : null}
      {items.length ? <StuckSagas items={items} /> : null}
      {items.length ? <DeadLetterTable items={items} onChanged={page.reload} showOrder /> : null}
      <div className="row pager">
        <button
          type="button"
          className="button small"
          disabled={trail.length === 0}
          onClick={() => {
            setCursor(trail[trail.length - 1] ?? null);
            setTrail((t) => t.slice(0, -1));
          }}
        >
          ◀ Newer
        </button>
        <button
          type="button"
          className="button small"
          disabled={!page.data?.nextCursor}
          onClick={() => {
            setTrail((t) => [...t, cursor]);
            setCursor(page.data!.nextCursor);
          }}
        >
          Older ▶
        </button>
      </div>
    </section>
  );
}

/** The sagas behind this page of dead letters, with their state: which ones wait on an operator. */
function StuckSagas({ items }: { items: DeadLetter[] }) {
  const { api } = useSession();
  const ids = [...new Set(items.map((d) => d.orderId).filter((id): id is string => !!id))].slice(0, 20);
  const key = ids.join(',');
  const [sagas, setSagas] = useState<SagaInstance[]>();
  useEffect(() => {
    let live = true;
    void Promise.all(ids.map((id) => api.saga(id).catch(() => null))).then((found) => live && setSagas(found.filter((s): s is SagaInstance => s !== null)));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (!sagas?.length) return null;
  return (
    <div className="table-wrap">
      <table className="table compact" data-testid="operator-sagas">
        <thead>
          <tr>
            <th scope="col">Saga</th>
            <th scope="col">Status</th>
            <th scope="col">State</th>
            <th scope="col">Condition</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {sagas.map((s) => (
            <tr key={s.orderId} data-testid={`operator-saga-${s.orderId}`}>
              <td>
                <Link to={`/sagas/${encodeURIComponent(s.orderId)}`} title={s.orderId}>
                  <code>{shortId(s.orderId)}</code>
                </Link>
              </td>
              <td>
                <StatusBadge status={s.status} />
              </td>
              <td>
                <code>{s.state}</code>
                {s.version !== undefined ? <span className="muted small"> v{s.version}</span> : null}
              </td>
              <td>{s.stuck ? <span className="badge badge-stuck">{stuckText(s.stuck)}</span> : <span className="muted">not stuck</span>}</td>
              <td>
                <TimeOf at={s.startedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Definitions() {
  const { api } = useSession();
  const defs = useResource(() => api.sagaDefinitions(), []);
  const items = [...(defs.data?.items ?? [])].sort((a, b) => b.version - a.version);
  return (
    <section className="card" aria-labelledby="defs-title" data-testid="operator-definitions">
      <div className="card-head">
        <h2 id="defs-title">Saga definitions</h2>
        {defs.loading ? <Spinner label="Reading versions" /> : null}
      </div>
      <p className="muted small">A running saga stays on the version it started with; new sagas take the newest. Migrate one from its saga page.</p>
      <ProblemBox error={defs.error} onRetry={defs.reload} />
      {items.length ? (
        <div className="table-wrap">
          <table className="table compact" data-testid="definitions-table">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Hash</th>
                <th scope="col">Created</th>
                <th scope="col" className="num">
                  Steps
                </th>
                <th scope="col" className="num">
                  Running
                </th>
                <th scope="col">Chart</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.version} data-testid={`definition-${d.version}`}>
                  <td>v{d.version}</td>
                  <td>
                    <code title={d.hash}>{d.hash.slice(0, 12)}</code>
                  </td>
                  <td>
                    <TimeOf at={d.createdAt} />
                  </td>
                  <td className="num">{Array.isArray(d.steps) ? d.steps.length : typeof d.steps === 'number' ? d.steps : '–'}</td>
                  <td className="num">{d.running.toLocaleString()}</td>
                  <td>
                    <Link to={`/sagas?version=${d.version}`}>draw v{d.version}</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
