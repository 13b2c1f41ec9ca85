import { useState, type FormEvent } from 'react';
import type { ProjectionStatus, ReplayResult } from '../api';
import { useSession } from '../session';
import { useAction } from '../hooks';
import { count } from '../format';
import { Field, ProblemBox } from './ui';

/**
 * Re-publishes a range of the global log to one consumer group (admin), so that consumer
 * reprocesses history; the others never see the copies.
 */
export function ReplayCard({ projections }: { projections: ProjectionStatus[] }) {
  const { api } = useSession();
  const groups = projections.map((p) => p.groupId).filter((g): g is string => !!g);
  const [groupId, setGroupId] = useState('');
  // Positions are opaque cursors: copied from the log as shown, never typed as numbers.
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [result, setResult] = useState<ReplayResult>();
  const replay = useAction(async () => {
    setResult(undefined);
    const r = await api.replay({
      groupId: groupId || groups[0] || '',
      fromPosition: from.trim(),
      ...(to.trim() ? { toPosition: to.trim() } : {}),
    });
    setResult(r);
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void replay.start();
  };
  const issue = (field: string) => replay.error?.issueFor(field);
  return (
    <section className="card" aria-labelledby="replay-title" data-testid="replay">
      <h2 id="replay-title">Re-publish a range of the log</h2>
      <p className="muted small">
        The events in the range go to <code>replay.&lt;group&gt;</code>, which only that consumer group reads; its read model
        ignores what it has already applied, so a replay is safe to repeat.
      </p>
      <form className="inline-form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="replay-group">Consumer group</label>
          <select id="replay-group" value={groupId || groups[0] || ''} onChange={(e) => setGroupId(e.target.value)} data-testid="replay-group">
            {groups.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </div>
        <Field label="From position" name="fromPosition" value={from} onChange={(e) => setFrom(e.target.value)} error={issue('fromPosition')} />
        <Field label="To position (empty: head)" name="toPosition" value={to} onChange={(e) => setTo(e.target.value)} error={issue('toPosition')} />
        <button type="submit" className="button" disabled={replay.pending || groups.length === 0} data-testid="replay-submit">
          {replay.pending ? <span className="spinner-ring small" aria-hidden="true" /> : null}
          {replay.pending ? 'Publishing…' : 'Re-publish'}
        </button>
      </form>
      <ProblemBox error={replay.error} fields={['fromPosition', 'toPosition']} />
      {result ? (
        <p className="ok small" data-testid="replay-result">
          Published {count(result.published)} events (<code>{result.fromPosition}</code>–<code>{result.toPosition}</code>) to <code>{result.topic}</code>.
        </p>
      ) : null}
    </section>
  );
}
