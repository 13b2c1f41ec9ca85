import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '@saga/platform/errors';
import { requireRole } from '@saga/platform/http/auth-middleware';
import { bearer, json, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { openDeadLetters, retryDeadLetter, type DeadLetterDoc, type DeadLetters } from './dead-letters';
import { cursorParam, EmptyQuery, limitParam } from './params';

const DeadLettersQuery = z.strictObject({ cursor: cursorParam.optional(), limit: limitParam(100) });
const DeadLetterParams = z.strictObject({ id: z.string().regex(/^[0-9a-f]{24}$/, { error: 'not a dead letter id' }) });

const iso = z.string().meta({ format: 'date-time' });
const DeadLetter = z
  .object({
    id: z.string(),
    topic: z.string().meta({ description: 'The original topic, where a retry republishes' }),
    group: z.string().nullable().meta({ description: 'The consumer group that gave up (null for dead letters recorded before the bus named it)' }),
    key: z.string(),
    orderId: z.string().nullable(),
    reason: z.string(),
    attempts: z.number().int(),
    firstFailedAt: iso,
    lastFailedAt: iso,
    message: z.unknown().meta({ description: 'The dead-lettered message value: JSON when it parses, else the string' }),
  })
  .meta({ id: 'DeadLetter' });
const DeadLetterPage = z.object({ items: z.array(DeadLetter), nextCursor: z.string().nullable() }).meta({ id: 'DeadLetterPage' });
const DeadLetterOutcome = z.object({ id: z.string(), status: z.enum(['retried', 'discarded']) }).meta({ id: 'DeadLetterOutcome' });

function view(doc: DeadLetterDoc) {
  let message: unknown;
  try {
    message = JSON.parse(doc.value);
  } catch {
    message = doc.value;
  }
  const { id, topic, group, key, orderId, reason, attempts, firstFailedAt, lastFailedAt } = doc;
  return { id, topic, group, key, orderId, reason, attempts, firstFailedAt, lastFailedAt, message };
}

async function openOne(deadLetters: DeadLetters, id: string): Promise<DeadLetterDoc> {
  const doc = await deadLetters.get(id);
  if (!doc) throw new NotFoundError(`dead letter ${id} not found`);
  if (doc.status !== 'open') throw new ConflictError(`dead letter ${id} was already ${doc.status}`);
  return doc;
}

/** The operator's dead-letter routes (admin). Retry publishes, so it needs the bus. */
export async function deadLetterRoutes(deps: { documentStore: Parameters<typeof openDeadLetters>[0]; bus: MessageBus }, auth: RequestHandler): Promise<Router> {
  const deadLetters = await openDeadLetters(deps.documentStore);
  const router = Router();
  router.get('/api/dead-letters', auth, requireRole('admin'), async (req, res) => {
    const query = parseWith(DeadLettersQuery, req.query, 'query');
    const page = await deadLetters.list({ limit: query.limit ?? 20, ...(query.cursor ? { cursor: query.cursor } : {}) });
    res.json({ items: page.items.map(view), nextCursor: page.nextCursor });
  });
  router.post('/api/dead-letters/:id/retry', auth, requireRole('admin'), async (req, res) => {
    const { id } = parseWith(DeadLetterParams, req.params, 'path');
    parseWith(EmptyQuery, req.query, 'query');
    await retryDeadLetter(deps.bus, deadLetters, await openOne(deadLetters, id));
    res.status(202).json({ id, status: 'retried' });
  });
  router.post('/api/dead-letters/:id/discard', auth, requireRole('admin'), async (req, res) => {
    const { id } = parseWith(DeadLetterParams, req.params, 'path');
    parseWith(EmptyQuery, req.query, 'query');
    await deadLetters.mark(await openOne(deadLetters, id), 'discarded');
    res.status(202).json({ id, status: 'discarded' });
  });
  return router;
}

const idPath = { path: DeadLetterParams, query: EmptyQuery };

export const deadLetterPaths: Paths = {
  '/api/dead-letters': {
    get: {
      operationId: 'listDeadLetters',
      tags: ['operations'],
      summary: 'Open dead letters, newest failure first (admin)',
      security: bearer,
      requestParams: { query: DeadLettersQuery },
      responses: { '200': json('A page of dead letters', DeadLetterPage), ...problems(401, 403) },
    },
  },
  '/api/dead-letters/{id}/retry': {
    post: {
      operationId: 'retryDeadLetter',
      tags: ['operations'],
      summary: 'Republish a dead letter to its original topic (admin)',
      description: 'If it fails again it is dead-lettered anew and listed as a new entry; this one stays retried.',
      security: bearer,
      requestParams: idPath,
      responses: { '202': json('Republished', DeadLetterOutcome), ...problems(401, 403, 404, 409) },
    },
  },
  '/api/dead-letters/{id}/discard': {
    post: {
      operationId: 'discardDeadLetter',
      tags: ['operations'],
      summary: 'Discard a dead letter: no longer listed (admin)',
      security: bearer,
      requestParams: idPath,
      responses: { '202': json('Discarded', DeadLetterOutcome), ...problems(401, 403, 404, 409) },
    },
  },
};
