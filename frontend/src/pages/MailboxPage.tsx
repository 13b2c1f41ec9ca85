import { useState } from 'react';
import { useSession } from '../session';
import { useResource, useThrottled } from '../hooks';
import { useLive } from '../live';
import { dateTime, shortId } from '../format';
import { Link } from '../router';
import { Empty, PageHeader, ProblemBox, Spinner } from '../components/ui';

export function MailboxPage() {
  const { api } = useSession();
  const mail = useResource(() => api.mailbox(), []);
  const reload = useThrottled(mail.reload, 500);
  // Email events belong to an order, so they arrive as `order` messages.
  useLive(['order'], reload);
  const [open, setOpen] = useState<string | null>(null);
  // Newest first; an email still being retried has no sentAt yet and goes on top.
  const key = (m: { sentAt: string | null }) => m.sentAt ?? '\uffff';
  const items = [...(mail.data?.items ?? [])].sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
  const selected = items.find((m) => m.emailId === open) ?? items[0];

  return (
    <div>
      <PageHeader title="Mailbox">{mail.loading ? <Spinner label={mail.data ? 'Refreshing' : 'Loading mail'} /> : null}</PageHeader>
      <p className="muted">Emails the system sent (the embedded mailbox; with SMTP they go to Mailpit instead).</p>
      <ProblemBox error={mail.error} onRetry={mail.reload} />
      {mail.data && items.length === 0 ? <Empty>No emails sent yet.</Empty> : null}
      {items.length > 0 ? (
        <div className="mailbox">
          <ul className="card mail-list" data-testid="mail-list">
            {items.map((m) => (
              <li key={m.emailId} className={m === selected ? 'selected' : undefined}>
                <button type="button" className="mail-item" onClick={() => setOpen(m.emailId)} aria-current={m === selected || undefined} data-testid={`mail-${m.emailId}`}>
                  <span className="mail-subject">{m.subject}</span>
                  <span className="muted small">
                    to {m.to} · {m.sentAt ? dateTime(m.sentAt) : (m.status ?? 'not sent yet')}
                  </span>
                </button>
              </li>
            ))}
          </ul>
          {selected ? (
            <article className="card mail-body" aria-labelledby="mail-subject" data-testid="mail-body">
              <h2 id="mail-subject">{selected.subject}</h2>
              <dl className="facts">
                <dt>To</dt>
                <dd>{selected.to}</dd>
                <dt>Sent</dt>
                <dd>
                  {dateTime(selected.sentAt)}
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
