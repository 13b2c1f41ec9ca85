/**
 * The system's HTTP contract: one OpenAPI 3.1 document assembled from the paths each service
 * declares beside its routes (from the zod schemas those routes validate with). The gateway
 * serves it at `GET /api/openapi.json`; `npm run openapi` writes it to app/openapi.json, which
 * a test keeps equal to what this module generates.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Router } from 'express';
import { authPaths } from '@saga/command-services/http/auth-routes';
import { commandPaths } from '@saga/command-services/http/command-routes';
import { buildOpenApiDocument, edgePaths, json, mergePaths, methodNotAllowed, noQuery, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import { explorerPaths } from '@saga/read-api/explorer-routes';
import { livePaths } from '@saga/read-api/live';
import { projectionPaths } from '@saga/read-api/projection-routes';
import { queryPaths } from '@saga/read-api/query-routes';
import { deadLetterPaths } from '@saga/read-api/dead-letter-routes';
import { sagaOperatorPaths } from '@saga/read-api/saga-routes';
import { sagaDefinitionPaths } from '@saga/saga-orchestrator/routes';
import { z } from 'zod';

export const openApiFile = resolve(import.meta.dirname, 'openapi.json');

const documentPaths: Paths = {
  '/api/openapi.json': {
    get: {
      operationId: 'getOpenApi',
      tags: ['operations'],
      summary: 'This document',
      security: [],
      requestParams: { query: noQuery },
      responses: { '200': json('OpenAPI 3.1', z.looseObject({ openapi: z.string() })), ...problems() },
    },
  },
};

const { version } = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };

/** Every declared path: what the document lists and what OPTIONS and 405 answer from. */
const allPaths = (): Paths =>
  mergePaths(
    authPaths,
    commandPaths,
    queryPaths,
    deadLetterPaths,
    sagaDefinitionPaths,
    sagaOperatorPaths,
    explorerPaths,
    projectionPaths,
    livePaths,
    documentPaths,
    edgePaths,
  );

export function openApiDocument() {
  return buildOpenApiDocument({
    title: 'Order saga system',
    version,
    description: [
      'Commands (place and cancel orders, manage the catalog), the read models the saga and projectors keep, the event-stream',
      'explorer with time travel and re-publishing, projection rebuilds and live updates (SSE).',
      '',
      'Commands answer 202 once their events are appended: what follows (the saga) happens asynchronously and shows in the',
      'read API. Every error is `application/problem+json` with a stable `type` and the field-level issues of a rejected input.',
    ].join('\n'),
    tags: [
      { name: 'auth' },
      { name: 'orders' },
      { name: 'catalog' },
      { name: 'sagas' },
      { name: 'explorer', description: 'The event store, read directly' },
      { name: 'projections' },
      { name: 'live' },
      { name: 'operations' },
    ],
    paths: allPaths(),
  });
}

/** The committed file's text: what `npm run openapi` writes. */
export const openApiText = () => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

/**
 * Serves the document, generated at the first request and kept: generating it turns every zod
 * schema into JSON Schema (tens of milliseconds), which a start should not wait for.
 */
export function openApiRoutes(): Router {
  const router = Router();
  let text: string | undefined;
  router.get('/api/openapi.json', (req, res) => {
    parseWith(noQuery, req.query, 'query');
    text ??= openApiText();
    res.type('application/json').set('Cache-Control', 'public, max-age=60').send(text);
  });
  return router;
}

/**
 * OPTIONS and 405 for the methods the document does not declare on its paths (before the
 * routers), from the same declarations the document is generated from.
 */
export const methodNotAllowedRoutes = () => methodNotAllowed(allPaths());
