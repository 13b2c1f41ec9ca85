import { useEffect, useMemo, useRef, useState } from 'react';
import type { RecordedEvent, StateAtRevision, StreamInfo, StreamList } from '../api';
import { useSession } from '../session';
import { useAction, useResource } from '../hooks';
import { useLive, useLiveState, type LiveMessage } from '../live';
import { clockTime, count } from '../format';
import { Link } from '../router';
import { diffJson, serverChanges, show, type Change } from '../diff';
import { Empty, JsonView, PageHeader, ProblemBox, Spinner } from '../components/ui';
import { OpenById } from '../components/OpenById';

const pageSize = 100;

export function EventsPage({ streamId }: { streamId?: string }) {
  const { api, session } = useSession();
  // Listing streams and the global log is for admins; a customer opens their own orders' streams.
  const isAdmin = session?.user.role === 'admin';
  const [category, setCategory] = useState<string>(() => (streamId ? (streamId.split('-')[0] ?? '') : ''));
  const list = useResource(
    () => (isAdmin ? api.streams(category || undefined) : Promise.resolve<StreamList>({ categories: [], streams: [], next: null })),
    [category, isAdmin],
  );
  const categories = list.data?.categories ?? [];
  const streams: StreamInfo[] = list.data?.streams ?? [];

  return (
    <div>
      <PageHeader title="Event explorer">
        {list.loading ? <Spinner label="Loading streams" /> : null}
      </PageHeader>
      <div className="explorer">
        <aside className="card explorer-side" aria-labelledby="streams-title">
          <OpenById current={streamId} label="Stream id" placeholder="order-…, inventory-warehouse" basePath="/events" />
          <h2 id="streams-title">Categories</h2>
          <ProblemBox error={list.error} onRetry={list.reload} />
          <div className="chips" role="group" aria-label="Category" data-testid="categories">
            <button type="button" className={category === '' ? 'chip active' : 'chip'} onClick={() => setCategory('')}>
              all
            </button>
            {categories.map((c) => (
              <button
                key={c.category}
                type="button"
                className={category === c.category ? 'chip active' : 'chip'}
                onClick={() => setCategory(c.category)}
                data-testid={`category-${c.category}`}
              >
                {c.category} <span className="muted">{count(c.streams)}</span>
              </button>
            ))}
          </div>
          <h2>Streams</h2>
          {!isAdmin ? (
            <p className="muted small">
              Only admins can list streams. Open your order’s streams from its page, or type a stream id such as <code>order-…</code>.
            </p>
          ) : list.data && streams.length === 0 ? (
            <Empty>No streams{category ? ` in ${category}` : ''}.</Empty>
          ) : null}
          <ul className="stream-list" data-testid="streams">
            {streams.slice(0, 300).map((s) => (
              <li key={s.streamId} className={s.streamId === streamId ? 'selected' : undefined}>
                <Link to={`/events/${encodeURIComponent(s.streamId)}`} data-testid={`stream-${s.streamId}`}>
                  <code>{s.streamId}</code>
                </Link>
                {s.revision !== undefined ? <span className="muted"> r{s.revision}</span> : null}
              </li>
            ))}
          </ul>
          {list.data?.next ? <p className="muted small">Showing the first {streams.length} streams.</p> : null}
          {isAdmin ? (
            <p>
              <Link to="/events">Live global log</Link>
            </p>
          ) : null}
        </aside>
        <section className="explorer-main">
          {streamId ? <StreamView key={streamId} streamId={streamId} /> : isAdmin ? <LiveLog /> : <Empty>Open a stream to travel through its events.</Empty>}
        </section>
      </div>
    </div>
  );
}

const logKeep = 200;

/** The global log as it happens: its last events from `GET /api/log`, then every `log` message of the live stream, newest first. */
function LiveLog() {
  const { api } = useSession();
  const state = useLiveState();
  const [entries, setEntries] = useState<LiveMessage[]>([]);
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const backfill = useResource(async () => {
    const events = await api.latestLog(50);
    return events.map(
      (e): LiveMessage => ({
        kind: 'log',
        id: e.position,
        data: { position: e.position, streamId: e.streamId, revision: e.revision, type: e.type, at: e.metadata.occurredAt },
        receivedAt: Date.parse(String(e.metadata.occurredAt)) || Date.now(),
      }),
    );
  }, []);
  useLive(['log'], (msg) => {
    if (!pausedRef.current) setEntries((e) => [msg, ...e].slice(0, logKeep));
  });
  // Live messages may overlap the backfill; the log position tells them apart.
  const seen = new Set(entries.map((e) => e.id));
  const shown = [...entries, ...[...(backfill.data ?? [])].reverse().filter((e) => !seen.has(e.id))].slice(0, logKeep);
  return (
    <div className="card" data-testid="live-log">
      <div className="card-head">
        <h2>Live global log</h2>
        <span className={`live-dot live-${state}`}>{state === 'open' ? 'live' : state}</span>
        <button type="button" className="button small" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" className="button small" onClick={() => setEntries([])}>
          Clear
        </button>
      </div>
      <ProblemBox error={backfill.error} onRetry={backfill.reload} />
      {backfill.loading ? <Spinner label="Reading the log" /> : null}
      {shown.length === 0 && !backfill.loading ? <Empty>Waiting for events… place an order to see the saga run.</Empty> : null}
      <ol className="log">
        {shown.map((m, i) => (
          <LogLine key={`${m.id}-${m.receivedAt}-${i}`} msg={m} />
        ))}
      </ol>
    </div>
  );
}

function LogLine({ msg }: { msg: LiveMessage }) {
  const d = (msg.data && typeof msg.data === 'object' ? msg.data : {}) as Record<string, unknown>;
  const at = typeof d.at === 'string' ? d.at : new Date(msg.receivedAt).toISOString();
  const stream = typeof d.streamId === 'string' ? d.streamId : undefined;
  const type = typeof d.type === 'string' ? d.type : undefined;
  const summary = type
    ? `${type}${typeof d.revision === 'number' ? ` r${d.revision}` : ''}`
    : ['orderId', 'name', 'sku', 'state', 'status'].map((k) => (d[k] !== undefined ? `${k}=${show(d[k])}` : '')).filter(Boolean).join(' ');
  return (
    <li className={`log-line log-${msg.kind}`}>
      <time>{clockTime(at)}</time>
      {msg.kind !== 'log' ? <span className="log-kind">{msg.kind}</span> : null}
      {typeof d.position === 'string' ? <span className="muted">#{d.position}</span> : null}
      {stream ? (
        <Link to={`/events/${encodeURIComponent(stream)}`}>
          <code>{stream}</code>
        </Link>
      ) : null}
      <span>{summary || show(msg.data)}</span>
    </li>
  );
}

function StreamView({ streamId }: { streamId: string }) {
  const { api } = useSession();
  const [events, setEvents] = useState<RecordedEvent[]>([]);
  const [nextFrom, setNextFrom] = useState<number | null>(0);
  const load = useAction(async (from: number) => {
    const page = await api.streamEvents(streamId, from, pageSize);
    setEvents((e) => [...e.filter((x) => x.revision < from), ...page.events.filter((x) => x.revision >= from)]);
    setNextFrom(page.next);
  });
  useEffect(() => {
    void load.start(0);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [streamId]);
  // New events on this stream extend the slider while we watch (admins get every `log` message; owners `order`/`saga` causes).
  useLive(['log', 'order', 'saga'], (msg) => {
    const d0 = msg.data as { cause?: { streamId?: string; revision?: number } } | null;
    if (d0?.cause?.streamId === streamId && nextFrom === null) {
      void load.start(events.length ? events[events.length - 1]!.revision + 1 : 0);
      return;
    }
    const d = msg.data as Partial<RecordedEvent> | null;
    if (d && d.streamId === streamId && typeof d.revision === 'number' && nextFrom === null) void load.start(events.length ? events[events.length - 1]!.revision + 1 : 0);
  });

  const maxRevision = events.length ? events[events.length - 1]!.revision : -1;
  const [revision, setRevision] = useState<number | null>(null);
  const shown = revision ?? maxRevision;

  return (
    <div className="stream-view" data-testid="stream-view">
      <div className="card">
        <div className="card-head">
          <h2>
            <code>{streamId}</code>
          </h2>
          <span className="muted">
            {events.length} event{events.length === 1 ? '' : 's'} loaded
          </span>
          {load.pending ? <Spinner label="Loading events" /> : null}
        </div>
        <ProblemBox error={load.error} onRetry={() => void load.start(events.length ? maxRevision + 1 : 0)} />
        {!load.pending && events.length === 0 && !load.error ? <Empty>This stream has no events.</Empty> : null}
        {events.length > 0 ? (
          <div className="time-travel">
            <label htmlFor="tt-slider">
              Time travel: revision <strong data-testid="tt-revision">{shown}</strong> of {maxRevision}
            </label>
            <div className="row">
              <button type="button" className="button small" onClick={() => setRevision(Math.max(0, shown - 1))} disabled={shown <= 0} aria-label="Previous revision" data-testid="tt-prev">
                ◀
              </button>
              <input
                id="tt-slider"
                type="range"
                min={0}
                max={maxRevision}
                value={shown}
                onChange={(e) => setRevision(Number(e.target.value))}
                data-testid="tt-slider"
              />
              <button type="button" className="button small" onClick={() => setRevision(Math.min(maxRevision, shown + 1))} disabled={shown >= maxRevision} aria-label="Next revision" data-testid="tt-next">
                ▶
              </button>
            </div>
            {nextFrom !== null ? (
              <button type="button" className="button small" onClick={() => void load.start(nextFrom)} disabled={load.pending} data-testid="events-more">
                Load more events (to travel further)
              </button>
            ) : null}
          </div>
        ) : null}
      </div>
      {events.length > 0 ? (
        <div className="stream-grid">
          <EventList events={events} revision={shown} onPick={setRevision} />
          <StateAt streamId={streamId} revision={shown} event={events.find((e) => e.revision === shown)} />
        </div>
      ) : null}
    </div>
  );
}

function EventList({ events, revision, onPick }: { events: RecordedEvent[]; revision: number; onPick: (r: number) => void }) {
  const activeRef = useRef<HTMLLIElement>(null);
  // Braces matter: Chromium's scrollIntoView now returns a promise, which React would take for a cleanup.
  useEffect(() => {
    activeRef.current?.scrollIntoView({ block: 'nearest' });
  }, [revision]);
  return (
    <div className="card event-list-card">
      <h3>Events</h3>
      <ol className="event-list" data-testid="stream-events">
        {events.map((e) => (
          <li key={e.eventId} ref={e.revision === revision ? activeRef : undefined} className={e.revision === revision ? 'active' : e.revision > revision ? 'future' : undefined}>
            <button type="button" className="event-item" onClick={() => onPick(e.revision)} aria-current={e.revision === revision || undefined}>
              <span className="rev">r{e.revision}</span>
              <span className="etype">{e.type}</span>
              <time className="muted">{clockTime(typeof e.metadata?.occurredAt === 'string' ? e.metadata.occurredAt : undefined)}</time>
            </button>
          </li>
        ))}
      </ol>
    </div>
  );
}

/** The aggregate folded up to `revision`, and what the event at that revision changed. */
function StateAt({ streamId, revision, event }: { streamId: string; revision: number; event: RecordedEvent | undefined }) {
  const { api } = useSession();
  const cache = useRef(new Map<number, StateAtRevision>());
  // Sliding fast asks only for where the slider stops.
  const [settled, setSettled] = useState(revision);
  useEffect(() => {
    const t = setTimeout(() => setSettled(revision), 120);
    return () => clearTimeout(t);
  }, [revision]);
  const fetchState = async (r: number) => {
    const hit = cache.current.get(r);
    if (hit) return hit;
    const s = await api.streamState(streamId, r);
    cache.current.set(r, s);
    return s;
  };
  const now = useResource(async () => {
    const cur = await fetchState(settled);
    const fromServer = serverChanges(cur.changes);
    if (fromServer) return { cur, changes: fromServer };
    const prev = settled > 0 ? (await fetchState(settled - 1)).state : undefined;
    return { cur, changes: diffJson(prev, cur.state) };
  }, [streamId, settled]);

  return (
    <div className="state-at">
      <div className="card">
        <div className="card-head">
          <h3>Event at r{revision}</h3>
        </div>
        {event ? (
          <>
            <p>
              <strong data-testid="tt-event-type">{event.type}</strong> <span className="muted">position {event.position}</span>
            </p>
            <JsonView value={event.data} />
            <details>
              <summary>metadata</summary>
              <JsonView value={event.metadata} />
            </details>
          </>
        ) : (
          <Empty>Not loaded.</Empty>
        )}
      </div>
      <div className="card" data-testid="tt-changes">
        <div className="card-head">
          <h3>What it changed</h3>
          {now.loading ? <Spinner label="Folding" /> : null}
        </div>
        <ProblemBox error={now.error} onRetry={now.reload} />
        {now.data ? <ChangeList changes={now.data.changes} /> : null}
      </div>
      <div className="card">
        <div className="card-head">
          <h3>State after r{now.data?.cur.revision ?? settled}</h3>
        </div>
        {now.data ? <JsonView value={now.data.cur.state} testId="tt-state" /> : now.loading ? <Spinner label="Folding the stream" /> : null}
      </div>
    </div>
  );
}

function ChangeList({ changes }: { changes: Change[] }) {
  const sorted = useMemo(() => changes.slice(0, 200), [changes]);
  if (changes.length === 0) return <Empty>No change to the state.</Empty>;
  return (
    <table className="table compact diff">
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((c) => (
          <tr key={c.path} className={`diff-${c.kind}`}>
            <td>
              <code>{c.path}</code>
            </td>
            <td className="before">{c.kind === 'added' ? <span className="muted">—</span> : <code>{show(c.before)}</code>}</td>
            <td className="after">{c.kind === 'removed' ? <span className="muted">removed</span> : <code>{show(c.after)}</code>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
