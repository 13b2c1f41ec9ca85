import { useEffect, useState } from 'react';
import { useSession } from '../session';
import { useDebounced, useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { shortId } from '../format';
import { Link } from '../router';
import { Empty, PageHeader, ProblemBox, Spinner, TimeOf } from '../components/ui';

export function MailboxPage() {
  const { api, session } = useSession();
  const isAdmin = session?.user.role === 'admin';
  const [recipient, setRecipient] = useState('');
  const to = useDebounced(/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(recipient.trim()) ? recipient.trim() : '', 300);
  const [text, setText] = useState('');
  // Pages by the server's cursor; `trail` holds the cursors of the newer pages.
  const [cursor, setCursor] = useState<string | null>(null);
  const [trail, setTrail] = useState<(string | null)[]>([]);
  useEffect(() => {
    setCursor(null);
    setTrail([]);
  }, [to]);
  const mail = useResource(() => api.mailbox({ cursor, ...(to ? { to } : {}) }), [cursor, to]);
  const reload = useThrottled(mail.reload, 500);
  // Email events belong to an order, so they arrive as `order` messages; only the newest page moves.
  useLive(['order'], () => cursor === null && reload());
  const [open, setOpen] = useState<string | null>(null);
  // Newest first; an email still being retried has no sentAt yet and goes on top.
  const key = (m: { sentAt: string | null }) => m.sentAt ?? '\uffff';
  const needle = text.trim().toLowerCase();
  const items = [...(mail.data?.items ?? [])]
    .filter((m) => !needle || `${m.subject} ${m.to} ${m.orderId} ${m.body}`.toLowerCase().includes(needle))
    .sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
  const selected = items.find((m) => m.emailId === open) ?? items[0];

  return (
    <div>
      <PageHeader title="Mailbox">{mail.loading ? <Spinner label={mail.data ? 'Refreshing' : 'Loading mail'} /> : null}</PageHeader>
      <p className="muted">Emails the system sent (the embedded mailbox; with SMTP they go to Mailpit instead).</p>
      <div className="row mail-tools">
        {isAdmin ? (
          <label className="inline">
            To{' '}
            <input className="text" type="search" value={recipient} onChange={(e) => setRecipient(e.target.value)} placeholder="name@example.com" data-testid="mail-to" />
          </label>
        ) : null}
        <label className="inline">
          Find on this page{' '}
          <input className="text" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="subject, order id, text" data-testid="mail-search" />
        </label>
      </div>
      <ProblemBox error={mail.error} onRetry={mail.reload} />
      {mail.data && items.length === 0 ? <Empty>{needle || to ? 'No emails match.' : 'No emails sent yet.'}</Empty> : null}
      {items.length > 0 ? (
        <div className="mailbox">
          <ul className="card mail-list" data-testid="mail-list">
            {items.map((m) => (
              <li key={m.emailId} className={m === selected ? 'selected' : undefined}>
                <button type="button" className="mail-item" onClick={() => setOpen(m.emailId)} aria-current={m === selected || undefined} data-testid={`mail-${m.emailId}`}>
                  <span className="mail-subject">{m.subject.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, (id) => shortId(id))}</span>
                  <span className="muted small">
                    to {m.to} · {m.sentAt ? <TimeOf at={m.sentAt} /> : (m.status ?? 'not sent yet')}
                  </span>
                </button>
              </li>
            ))}
            <li className="row pager">
              <button
                type="button"
                className="button small"
                disabled={trail.length === 0}
                onClick={() => {
                  setCursor(trail[trail.length - 1] ?? null);
                  setTrail((t) => t.slice(0, -1));
                }}
                data-testid="mail-newer"
              >
                ◀ Newer
              </button>
              <span className="muted small">Page {trail.length + 1}</span>
              <button
                type="button"
                className="button small"
                disabled={!mail.data?.nextCursor}
                onClick={() => {
                  setTrail((t) => [...t, cursor]);
                  setCursor(mail.data!.nextCursor);
                }}
                data-testid="mail-older"
              >
                Older ▶
              </button>
            </li>
          </ul>
          {selected ? (
            <article className="card mail-body" aria-labelledby="mail-subject" data-testid="mail-body">
              <h2 id="mail-subject">{selected.subject}</h2>
              <dl className="facts">
                <dt>To</dt>
                <dd>{selected.to}</dd>
                <dt>Sent</dt>
                <dd>
                  <TimeOf at={selected.sentAt} />
                  {selected.status && selected.status !== 'sent' ? <span className="warn"> {selected.status}{selected.error ? `: ${selected.error}` : ''}</span> : null}
                  {selected.attempts && selected.attempts > 1 ? <span className="muted"> ({selected.attempts} attempts)</span> : null}
                </dd>
                <dt>Template</dt>
                <dd>
                  <code>{selected.template}</code>
                </dd>
                <dt>Order</dt>
                <dd>
                  <Link to={`/orders/${encodeURIComponent(selected.orderId)}`}>
                    <code>{shortId(selected.orderId)}</code>
                  </Link>
                </dd>
              </dl>
              <pre className="mail-text">{selected.body}</pre>
            </article>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
