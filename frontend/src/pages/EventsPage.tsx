import { useEffect, useMemo, useRef, useState } from 'react';
import type { LogCursor, RecordedEvent, StateAtRevision, StreamInfo, StreamList } from '../api';
import { useSession } from '../session';
import { useAction, useDebounced, useResource } from '../hooks';
import { useLive, useLiveState, type LiveMessage } from '../live';
import { clockTime, count } from '../format';
import { hashParam, Link, setHashParam } from '../router';
import { diffJson, serverChanges, show, type Change } from '../diff';
import { Empty, JsonView, PageHeader, ProblemBox, Spinner, TimeOf } from '../components/ui';
import { OpenById } from '../components/OpenById';

const pageSize = 100;

export function EventsPage({ streamId }: { streamId?: string }) {
  const { api, session } = useSession();
  // Listing streams and the global log is for admins; a customer opens their own orders' streams.
  const isAdmin = session?.user.role === 'admin';
  const [category, setCategory] = useState<string>(() => (streamId ? (streamId.split('-')[0] ?? '') : ''));
  // Opening a stream of another category moves the chip with it.
  useEffect(() => {
    if (streamId) setCategory(streamId.split('-')[0] ?? '');
  }, [streamId]);
  const [search, setSearch] = useState('');
  const prefix = useDebounced(search.trim(), 250);
  const validPrefix = /^[a-z][A-Za-z0-9_-]*$/.test(prefix) ? prefix : '';
  const list = useResource(
    () =>
      isAdmin
        ? api.streams(validPrefix ? undefined : category || undefined, validPrefix || undefined)
        : Promise.resolve<StreamList>({ categories: [], streams: [], next: null }),
    [category, isAdmin, validPrefix],
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
          {isAdmin ? (
            <label className="field">
              <span>Find streams by name</span>
              <input
                className="text"
                type="search"
                value={search}
                onChange={(e) => setSearch(e.target.value)}
                placeholder="e.g. inventory, order-3f2"
                data-testid="stream-search"
              />
              {prefix && !validPrefix ? <span className="field-error">Stream names start with a lower-case letter.</span> : null}
            </label>
          ) : null}
          <ProblemBox error={list.error} onRetry={list.reload} />
          {isAdmin ? <h2 id="streams-title">Categories</h2> : null}
          <div className="chips" role="group" aria-label="Category" data-testid="categories" hidden={!isAdmin}>
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
          {list.data?.next ? (
            <p className="muted small">Showing the first {streams.length} streams{validPrefix ? '' : ': type part of a name to find others'}.</p>
          ) : null}
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
    <>
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
    <LogBrowser />
    </>
  );
}

const logPage = 50;

/**
 * The whole global log, a page at a time: newest first or oldest first. Each page asks for
 * the `next` cursor the server gave with the previous one; going back re-asks for a cursor
 * already seen. No position is ever computed here.
 */
function LogBrowser() {
  const { api } = useSession();
  const [direction, setDirection] = useState<'backwards' | 'forwards'>('backwards');
  // The cursors of the pages before this one (null: the first page).
  const [trail, setTrail] = useState<(LogCursor | null)[]>([]);
  const [from, setFrom] = useState<LogCursor | null>(null);
  // Only some event types (comma-separated, checked before it is asked for), filtered by the server.
  const [typeText, setTypeText] = useState(() => hashParam('type') ?? '');
  const typeInput = useDebounced(typeText.replace(/\s+/g, ''), 300);
  const validType = /^[A-Za-z]{1,64}(,[A-Za-z]{1,64}){0,19}$/.test(typeInput) ? typeInput : '';
  const [seenTypes, setSeenTypes] = useState<string[]>([]);
  const [jump, setJump] = useState('');
  useEffect(() => {
    setTrail([]);
    setFrom(null);
    setHashParam('type', validType || null);
  }, [validType]);
  const page = useResource(() => api.log({ direction, from, limit: logPage, ...(validType ? { type: validType } : {}) }), [direction, from, validType]);
  useEffect(() => {
    const types = page.data?.events.map((e) => e.type) ?? [];
    setSeenTypes((seen) => (types.every((t) => seen.includes(t)) ? seen : [...new Set([...seen, ...types])].sort()));
  }, [page.data]);
  const restart = (d: 'backwards' | 'forwards') => {
    setDirection(d);
    setTrail([]);
    setFrom(null);
  };
  return (
    <div className="card" data-testid="log-browser">
      <div className="card-head">
        <h2>Browse the log</h2>
        <div className="chips" role="group" aria-label="Order">
          <button type="button" className={direction === 'backwards' ? 'chip active' : 'chip'} onClick={() => restart('backwards')} data-testid="log-newest">
            Newest first
          </button>
          <button type="button" className={direction === 'forwards' ? 'chip active' : 'chip'} onClick={() => restart('forwards')} data-testid="log-oldest">
            Oldest first
          </button>
        </div>
        {page.loading ? <Spinner label="Reading the log" /> : null}
      </div>
      <div className="filters" role="search" aria-label="Filter the log">
        <label className="field">
          <span>Event types</span>
          <input
            className="text"
            list="log-types"
            value={typeText}
            onChange={(e) => setTypeText(e.target.value)}
            placeholder="e.g. OrderPlaced,PaymentDeclined"
            data-testid="log-type-filter"
          />
          <datalist id="log-types">
            {seenTypes.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
          {typeInput && !validType ? <span className="field-error">Event type names, separated by commas.</span> : null}
        </label>
        <form
          className="field"
          onSubmit={(e) => {
            e.preventDefault();
            // A position is the server's cursor, passed back as typed (copied from this table).
            if (!jump.trim()) return;
            setTrail([]);
            setFrom(jump.trim());
          }}
        >
          <label htmlFor="log-jump">From position</label>
          <div className="row">
            <input id="log-jump" className="text" value={jump} onChange={(e) => setJump(e.target.value)} placeholder="a position from the table" data-testid="log-jump" />
            <button type="submit" className="button small" data-testid="log-jump-go">
              Go
            </button>
          </div>
        </form>
      </div>
      <ProblemBox error={page.error} onRetry={page.reload} />
      {page.data && page.data.events.length === 0 ? <Empty>{validType ? `No ${validType.split(',').join(' or ')} events here.` : 'The log is empty.'}</Empty> : null}
      <div className="table-wrap">
      <table className="table compact" data-testid="log-page">
        <thead>
          <tr>
            <th scope="col">Position</th>
            <th scope="col">Stream</th>
            <th scope="col">Event</th>
            <th scope="col">Time</th>
          </tr>
        </thead>
        <tbody>
          {(page.data?.events ?? []).map((e) => (
            <tr key={e.eventId}>
              <td className="num">{String(e.position)}</td>
              <td>
                <Link to={`/events/${encodeURIComponent(e.streamId)}`}>
                  <code>{e.streamId}</code>
                </Link>{' '}
                <span className="muted">r{e.revision}</span>
              </td>
              <td data-testid="log-event-type">{e.type}</td>
              <td>
                <TimeOf at={e.metadata.occurredAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      <div className="row pager">
        <button
          type="button"
          className="button small"
          disabled={trail.length === 0}
          onClick={() => {
            setFrom(trail[trail.length - 1] ?? null);
            setTrail((t) => t.slice(0, -1));
          }}
          data-testid="log-prev-page"
        >
          ◀ {direction === 'backwards' ? 'Newer' : 'Older'}
        </button>
        <span className="muted small">Page {trail.length + 1}</span>
        <button
          type="button"
          className="button small"
          disabled={!page.data || page.data.next === null}
          onClick={() => {
            setTrail((t) => [...t, from]);
            setFrom(page.data!.next);
          }}
          data-testid="log-next-page"
        >
          {direction === 'backwards' ? 'Older' : 'Newer'} ▶
        </button>
      </div>
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

/** The events of a stream held so far, by revision (a long stream is loaded a window at a time). */
function merge(held: Map<number, RecordedEvent>, events: RecordedEvent[]): Map<number, RecordedEvent> {
  const next = new Map(held);
  for (const e of events) next.set(e.revision, e);
  return next;
}

function StreamView({ streamId }: { streamId: string }) {
  const { api } = useSession();
  const [held, setHeld] = useState<Map<number, RecordedEvent>>(new Map());
  const [last, setLast] = useState(-1);
  const [type, setType] = useState('');
  // A revision in the URL (`?rev=12`) opens time travel there; without one it follows the newest.
  const [revision, setRevision] = useState<number | null>(() => {
    const r = hashParam('rev');
    return r !== null && /^\d+$/.test(r) ? Number(r) : null;
  });
  useEffect(() => setHashParam('rev', revision === null ? null : String(revision)), [revision]);
  const [jump, setJump] = useState('');
  // Where older and newer pages continue, as the server said.
  const [older, setOlder] = useState<number | null>(null);
  const [newer, setNewer] = useState<number | null>(null);

  const load = useAction(async (q: { from?: number; direction: 'forwards' | 'backwards' }, reset = false) => {
    const page = await api.streamEvents(streamId, { ...q, limit: pageSize, ...(type ? { type } : {}) });
    setLast(page.revision);
    setHeld((h) => merge(reset ? new Map() : h, page.events));
    const lowest = q.direction === 'backwards' ? page.next : (page.previous ?? null);
    const highest = q.direction === 'backwards' ? (page.previous ?? null) : page.next;
    setOlder((o) => (reset ? lowest : q.direction === 'backwards' || o === null ? lowest : Math.min(o, lowest ?? o)));
    setNewer((n) => (reset ? highest : q.direction === 'forwards' || n === null ? highest : Math.max(n, highest ?? n)));
    return page;
  });
  // A long stream opens at its newest revision, read backwards.
  useEffect(() => {
    void load.start({ direction: 'backwards' }, true).then(() => {
      // Opened at a revision from the URL: load the window around it too.
      if (revision !== null && !type) void load.start({ direction: 'forwards', from: Math.max(0, revision - pageSize / 2) });
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [streamId, type]);
  // New events on this stream extend the slider while we watch (admins get every `log` message; owners `order`/`saga` causes).
  const following = revision === null;
  useLive(['log', 'order', 'saga'], (msg) => {
    const d = msg.data as { cause?: { streamId?: string }; streamId?: string } | null;
    if (d?.cause?.streamId === streamId || d?.streamId === streamId) void load.start({ direction: 'backwards' });
  });

  const events = useMemo(() => [...held.values()].sort((a, b) => a.revision - b.revision), [held]);
  const shown = revision ?? last;
  const types = useMemo(() => [...new Set(events.map((e) => e.type))].sort(), [events]);

  /** Selects a revision, loading the window around it if it is not held yet. */
  const goTo = (r: number) => {
    const target = Math.max(0, Math.min(last, r));
    setRevision(target === last ? null : target);
    if (!type && !held.has(target)) void load.start({ direction: 'forwards', from: Math.max(0, target - pageSize / 2) });
  };

  return (
    <div className="stream-view" data-testid="stream-view">
      <div className="card">
        <div className="card-head">
          <h2>
            <code>{streamId}</code>
          </h2>
          <span className="muted" data-testid="stream-count">
            {last + 1} event{last === 0 ? '' : 's'}
            {events.length <= last ? `, ${events.length} loaded` : ''}
          </span>
          {load.pending ? <Spinner label="Loading events" /> : null}
        </div>
        <ProblemBox error={load.error} onRetry={() => void load.start({ direction: 'backwards' }, true)} />
        {!load.pending && last < 0 && !load.error ? <Empty>This stream has no events.</Empty> : null}
        {last >= 0 ? (
          <div className="time-travel">
            <label htmlFor="tt-slider">
              Time travel: revision <strong data-testid="tt-revision">{shown}</strong> of <span data-testid="tt-last">{last}</span>
              {shown === last ? <span className="muted"> (newest{following ? ', following live' : ''})</span> : null}
            </label>
            <div className="row">
              <button type="button" className="button small" onClick={() => goTo(0)} disabled={shown <= 0} aria-label="First revision" data-testid="tt-first">
                «
              </button>
              <button type="button" className="button small" onClick={() => goTo(shown - 1)} disabled={shown <= 0} aria-label="Previous revision" data-testid="tt-prev">
                ◀
              </button>
              <input
                id="tt-slider"
                type="range"
                min={0}
                max={last}
                value={shown}
                onChange={(e) => goTo(Number(e.target.value))}
                data-testid="tt-slider"
              />
              <button type="button" className="button small" onClick={() => goTo(shown + 1)} disabled={shown >= last} aria-label="Next revision" data-testid="tt-next">
                ▶
              </button>
              <button type="button" className="button small" onClick={() => goTo(last)} disabled={shown >= last} aria-label="Newest revision" data-testid="tt-last-button">
                »
              </button>
            </div>
            <form
              className="row tt-tools"
              onSubmit={(e) => {
                e.preventDefault();
                if (/^\d+$/.test(jump.trim())) goTo(Number(jump.trim()));
              }}
            >
              <label className="inline">
                Go to revision{' '}
                <input className="text short" inputMode="numeric" value={jump} onChange={(e) => setJump(e.target.value)} aria-label="Revision to go to" data-testid="tt-jump" />
              </label>
              <button type="submit" className="button small" data-testid="tt-jump-go">
                Go
              </button>
              <label className="inline">
                Only{' '}
                <select value={type} onChange={(e) => setType(e.target.value)} data-testid="tt-type" aria-label="Only events of type">
                  <option value="">every event type</option>
                  {[...new Set([...types, ...(type ? [type] : [])])].map((t) => (
                    <option key={t} value={t}>
                      {t}
                    </option>
                  ))}
                </select>
              </label>
            </form>
          </div>
        ) : null}
      </div>
      {last >= 0 ? (
        <div className="stream-grid">
          <div className="card event-list-card">
            <div className="row pager">
              <button type="button" className="button small" onClick={() => older !== null && void load.start({ direction: 'backwards', from: older })} disabled={older === null || load.pending} data-testid="events-older">
                ▲ Older
              </button>
              <button type="button" className="button small" onClick={() => newer !== null && void load.start({ direction: 'forwards', from: newer })} disabled={newer === null || load.pending} data-testid="events-newer">
                ▼ Newer
              </button>
            </div>
            <EventList events={events} revision={shown} onPick={goTo} />
          </div>
          <StateAt streamId={streamId} revision={shown} event={held.get(shown)} />
        </div>
      ) : null}
    </div>
  );
}

function EventList({ events, revision, onPick }: { events: RecordedEvent[]; revision: number; onPick: (r: number) => void }) {
  const activeRef = useRef<HTMLLIElement>(null);
  const listRef = useRef<HTMLOListElement>(null);
  // Scroll the list, never the page (scrollIntoView moved the whole page and hid the header).
  useEffect(() => {
    const list = listRef.current;
    const active = activeRef.current;
    if (!list || !active) return;
    const top = active.offsetTop - list.offsetTop;
    if (top < list.scrollTop || top + active.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTop = top - list.clientHeight / 2;
  }, [revision, events.length]);
  return (
    <>
      <h3>Events</h3>
      <ol className="event-list" data-testid="stream-events" ref={listRef}>
        {events.map((e) => (
          <li key={e.eventId} ref={e.revision === revision ? activeRef : undefined} className={e.revision === revision ? 'active' : e.revision > revision ? 'future' : undefined}>
            <button type="button" className="event-item" onClick={() => onPick(e.revision)} aria-current={e.revision === revision || undefined}>
              <span className="rev">r{e.revision}</span>
              <span className="etype">{e.type}</span>
              <TimeOf at={e.metadata?.occurredAt} />
            </button>
          </li>
        ))}
      </ol>
    </>
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
