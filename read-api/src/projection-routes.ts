import { Router, type RequestHandler } from 'express';
import type { LogPosition } from '@saga/event-schemas/envelope';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import { NotFoundError } from '@saga/platform/errors';
import { requireRole } from '@saga/platform/http/auth-middleware';
import { bearer, json, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { checkpointOf, groupIdOf, type AnyProjection } from '@saga/projections/projectors/projection';
import type { ProjectorRunner } from '@saga/projections/projectors/runner';
import type { RebuildProgress } from '@saga/projections/rebuild/rebuild';
import type { RebuildService } from '@saga/projections/rebuild/service';
import { EmptyQuery, ProjectionParams } from './params';
import { ProjectionList, RebuildProgress as RebuildProgressSchema } from './responses';

export interface ProjectionStatusDeps {
  projections: readonly AnyProjection[];
  /** The runners in this process, if the projectors run here. */
  runners: readonly ProjectorRunner[];
  eventStore: EventStore;
  documentStore: DocumentStore;
  bus: MessageBus;
  rebuilds: RebuildService;
}

export interface ProjectionStatus {
  name: string;
  /** running, stopped, or rebuilding (while a rebuild is under way). */
  status: string;
  groupId: string;
  /** Highest global position applied (an opaque cursor; null: none yet). */
  position: LogPosition | null;
  headPosition: LogPosition | null;
  /** Messages waiting for the projector on the bus. */
  lag: number;
  documents: number;
  rebuild: RebuildProgress | null;
}

export async function projectionStatuses(deps: ProjectionStatusDeps): Promise<ProjectionStatus[]> {
  const head = await deps.eventStore.headPosition();
  return Promise.all(
    deps.projections.map(async (projection) => {
      const runner = deps.runners.find((r) => r.projection.name === projection.name);
      const rebuild = deps.rebuilds.progress(projection.name);
      const position = ((await deps.documentStore.getCheckpoint(checkpointOf(projection.collection.name))) ?? null) as LogPosition | null;
      const lag = (await deps.bus.lag(groupIdOf(projection))).reduce((n, p) => n + p.lag, 0);
      const documents = await (await deps.documentStore.collection(projection.collection)).count();
      const rebuilding = rebuild !== null && rebuild.phase !== 'done' && rebuild.phase !== 'failed';
      return {
        name: projection.name,
        status: rebuilding ? 'rebuilding' : (runner?.status().state ?? 'external'),
        groupId: groupIdOf(projection),
        position,
        headPosition: head,
        lag,
        documents,
        rebuild,
      };
    }),
  );
}

export function projectionRoutes(deps: ProjectionStatusDeps, auth: RequestHandler): Router {
  const router = Router();
  router.get('/api/projections', auth, requireRole('admin'), async (req, res) => {
    parseWith(EmptyQuery, req.query, 'query');
    res.json({ items: await projectionStatuses(deps) });
  });
  router.post('/api/projections/:name/rebuild', auth, requireRole('admin'), async (req, res) => {
    const { name } = parseWith(ProjectionParams, req.params, 'path');
    if (!deps.projections.some((p) => p.name === name)) throw new NotFoundError(`no projection named ${name}`);
    const progress = deps.rebuilds.start(name);
    res.status(202).location(`/api/projections`).json(progress);
  });
  return router;
}

export const projectionPaths: Paths = {
  '/api/projections': {
    get: {
      operationId: 'listProjections',
      tags: ['projections'],
      summary: 'Every projection: position, lag, documents, rebuild progress (admin)',
      security: bearer,
      requestParams: { query: EmptyQuery },
      responses: { '200': json('The projections', ProjectionList), ...problems(401, 403) },
    },
  },
  '/api/projections/{name}/rebuild': {
    post: {
      operationId: 'rebuildProjection',
      tags: ['projections'],
      summary: 'Rebuild a projection from scratch (admin)',
      description:
        'Replays the log into a shadow collection; the live one keeps serving until the new one has caught up and is swapped in. Progress: `GET /api/projections` or the `projection` events of `GET /api/live`. A second start while one runs is a 409.',
      security: bearer,
      requestParams: { path: ProjectionParams },
      responses: { '202': json('The rebuild has started', RebuildProgressSchema), ...problems(401, 403, 404, 409) },
    },
  },
};
