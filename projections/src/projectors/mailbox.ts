import type { EventType } from '@saga/event-schemas/catalog';
import type { EmailTemplate } from '@saga/event-schemas/email';
import type { Collection, DocumentStore, Filter } from '@saga/platform/document-store/port';
import { publicView, type PublicView, type ProjectedDoc, type Projection } from './projection';

/**
 * The mailbox: every email the system sent (or gave up on), one document per email id. A
 * retried email that finally went out replaces its failure.
 */
export interface MailDoc extends ProjectedDoc {
  emailId: string;
  orderId: string;
  to: string;
  /** `to` lower-cased: addresses compare case-insensitively, as users' emails do. */
  recipient: string;
  template: EmailTemplate;
  subject: string | null;
  body: string | null;
  status: 'sent' | 'failed';
  error: string | null;
  attempts: number;
  sentAt: string | null;
  at: string;
}

const eventTypes = ['EmailSent', 'EmailFailed'] as const satisfies readonly EventType[];

export const mailboxProjection: Projection<MailDoc> = {
  name: 'mailbox',
  collection: { name: 'mailbox', indexes: ['recipient', 'at'], compound: [['recipient', 'at']] },
  eventTypes,
  docIds: (event) => (event.type === 'EmailSent' || event.type === 'EmailFailed' ? [event.data.emailId] : []),
  evolve: (doc, event, id) => {
    const at = event.metadata.occurredAt;
    const applied = doc?._applied ?? [];
    switch (event.type) {
      case 'EmailSent': {
        const d = event.data;
        return {
          id,
          emailId: id,
          orderId: d.orderId,
          to: d.to,
          recipient: d.to.toLowerCase(),
          template: d.template,
          subject: d.subject,
          body: d.body,
          status: 'sent',
          error: null,
          attempts: d.attempts,
          sentAt: at,
          at,
          _applied: applied,
        };
      }
      case 'EmailFailed': {
        const d = event.data;
        return {
          id,
          emailId: id,
          orderId: d.orderId,
          to: d.to,
          recipient: d.to.toLowerCase(),
          template: d.template,
          subject: doc?.subject ?? null,
          body: doc?.body ?? null,
          status: 'failed',
          error: d.error,
          attempts: d.attempts,
          sentAt: null,
          at,
          _applied: applied,
        };
      }
      default:
        return doc;
    }
  },
};

export type MailView = PublicView<MailDoc>;

export async function openMailboxQueries(store: DocumentStore) {
  const mailbox: Collection<MailDoc> = await store.collection<MailDoc>(mailboxProjection.collection);
  return {
    /** `to` set for a customer (their own address); absent for an admin. */
    async list(query: { to?: string; cursor?: string; limit: number }): Promise<{ items: MailView[]; nextCursor: string | null }> {
      const filter: Filter = {};
      if (query.to !== undefined) filter.recipient = query.to.toLowerCase();
      const page = await mailbox.find({
        filter,
        sort: { field: 'at', direction: 'desc' },
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return { items: page.items.map(publicView), nextCursor: page.nextCursor };
    },
  };
}
export type MailboxQueries = Awaited<ReturnType<typeof openMailboxQueries>>;
