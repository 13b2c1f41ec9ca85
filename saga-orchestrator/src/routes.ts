import { Router } from 'express';
import { z } from 'zod';
import { json, problems, type Paths } from '@saga/platform/http/openapi';
import { NotFoundError } from '@saga/platform/errors';
import { parseWith } from '@saga/platform/http/validate';
import { latestVersion, sagaVersion, sagaVersions, versionDocument } from './definitions';

const versionParam = z.coerce.number().int().min(1).max(1_000_000).meta({ description: 'A definition version; absent: the newest' });
export const SagaDefinitionQuery = z.strictObject({ version: versionParam.optional() });

/** `GET /api/saga-definition[?version=N]`: one version of the saga machine as JSON for the visualiser (public, no token). */
export function sagaDefinitionRoutes(deps: { stepTimeoutMs: number }): Router {
  const router = Router();
  // The machines do not change while the process runs, so each JSON is built once.
  const documents = new Map(sagaVersions.map((v) => [v.version, versionDocument(v, deps.stepTimeoutMs)]));
  router.get('/api/saga-definition', (req, res) => {
    const { version } = parseWith(SagaDefinitionQuery, req.query, 'query');
    const found = sagaVersion(version ?? latestVersion.version);
    if (!found) throw new NotFoundError(`there is no saga definition version ${version}`);
    res.set('Cache-Control', 'public, max-age=60').json(documents.get(found.version));
  });
  return router;
}

const OnTimeout = z.string();
const nullableString = z.string().nullable();

/** The shape of `SagaDefinition` (export.ts), for the OpenAPI document. */
export const SagaDefinitionSchema = z
  .object({
    id: z.string(),
    version: z.int().meta({ description: 'The definition version (1, 2, ...)' }),
    hash: z.string().meta({ description: 'sha256 of the states, transitions and step table' }),
    createdAt: z.string().meta({ format: 'date-time' }),
    summary: z.string(),
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
        kind: z.enum(['forward', 'compensation', 'timeout', 'retry', 'late-compensation', 'operator']),
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
        retriesBeforeFail: z.int(),
        lateSuccess: nullableString,
        pivot: z.boolean(),
        skippable: z.boolean(),
      }),
    ),
  })
  .meta({ id: 'SagaDefinition' });

export const StepRowSchema = SagaDefinitionSchema.shape.steps.element;

export const sagaDefinitionPaths: Paths = {
  '/api/saga-definition': {
    get: {
      operationId: 'getSagaDefinition',
      tags: ['sagas'],
      summary: 'One version of the saga state machine, read from the machine itself (public)',
      security: [],
      requestParams: { query: SagaDefinitionQuery },
      responses: { '200': json('States, transitions and the step table', SagaDefinitionSchema), ...problems(404) },
    },
  },
};
