import { Router } from 'express';
import { z } from 'zod';
import { json, noQuery, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import { sagaDefinition } from './export';

/** `GET /api/saga-definition`: the saga machine as JSON for the visualiser (public, no token). */
export function sagaDefinitionRoutes(deps: { stepTimeoutMs: number }): Router {
  const router = Router();
  // The machine does not change while the process runs, so the JSON is built once.
  const definition = sagaDefinition({ stepTimeoutMs: deps.stepTimeoutMs });
  router.get('/api/saga-definition', (req, res) => {
    parseWith(noQuery, req.query, 'query');
    res.set('Cache-Control', 'public, max-age=60').json(definition);
  });
  return router;
}

const OnTimeout = z.string();
const nullableString = z.string().nullable();

/** The shape of `SagaDefinition` (export.ts), for the OpenAPI document. */
export const SagaDefinitionSchema = z
  .object({
    id: z.string(),
    initial: z.string(),
    stepTimeoutMs: z.int(),
    states: z.array(
      z.object({
        name: z.string(),
        kind: z.enum(['step', 'compensation', 'end']),
        status: z.enum(['running', 'completed', 'rejected', 'cancelled']),
        step: nullableString,
        command: nullableString,
        pivot: z.boolean(),
        timeout: z.object({ delayMs: z.int(), onTimeout: OnTimeout }).nullable(),
      }),
    ),
    transitions: z.array(
      z.object({
        source: z.string().meta({ description: 'The state the edge leaves, or `*` for every state' }),
        event: z.string(),
        target: nullableString,
        guard: nullableString,
        actions: z.array(z.string()),
        commands: z.array(z.string()),
        kind: z.enum(['forward', 'compensation', 'timeout', 'retry', 'late-compensation']),
      }),
    ),
    steps: z.array(
      z.object({
        step: z.string(),
        state: nullableString,
        command: z.string(),
        success: nullableString,
        failure: nullableString,
        compensation: nullableString,
        onTimeout: OnTimeout.nullable(),
      }),
    ),
  })
  .meta({ id: 'SagaDefinition' });

export const sagaDefinitionPaths: Paths = {
  '/api/saga-definition': {
    get: {
      operationId: 'getSagaDefinition',
      tags: ['sagas'],
      summary: 'The saga state machine, read from the machine itself (public)',
      security: [],
      requestParams: { query: noQuery },
      responses: { '200': json('States, transitions and the step table', SagaDefinitionSchema), ...problems() },
    },
  },
};
