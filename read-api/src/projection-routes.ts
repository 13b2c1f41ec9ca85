import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { eventTypes } from '@saga/event-schemas/catalog';
import type { LogPosition } from '@saga/event-schemas/envelope';
import type { DocumentStore } from '@saga/platform/document-store/port';
import type { EventStore } from '@saga/platform/event-store/port';
import { NotFoundError } from '@saga/platform/errors';
import { requireRole } from '@saga/platform/http/auth-middleware';
import { bearer, json, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import type { MessageBus } from '@saga/platform/message-bus/port';
import { checkpointOf, groupIdOf, type AnyProjection } from '@saga/projections/projectors/projection';
import { replayTopicOf, type ProjectorRunner } from '@saga/projections/projectors/runner';
import type { RebuildProgress } from '@saga/projections/rebuild/rebuild';
import type { RebuildService } from '@saga/projections/rebuild/service';
import { ProjectionParams } from './params';
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
  /** running, stopped, paused (held across a rebuild's swap), rebuilding, or external (its projector runs in another process). */
  status: string;
  groupId: string;
  /** Highest global position applied (an opaque cursor; null: none yet). */
  position: LogPosition | null;
  headPosition: LogPosition | null;
  /** Messages waiting for the projector on the bus (its event topics and its replay topic). */
  lag: number;
  /**
   * Events of the types this projection handles that lie after `position` up to the head:
   * what it still has to apply, counted in the log. 0 exactly when it is caught up, even
   * though `position` may be short of `headPosition` (the events after it are of other types).
   * Counted up to `BEHIND_CAP`; `behindCapped` says there are more.
   */
  behind: number;
  behindCapped: boolean;
  documents: number;
  /** The projector in this process: what it applied and skipped (duplicates) since it started. */
  applied: { events: number; skipped: number } | null;
  /** A re-publish to this projection's group (`replay.<groupId>`): published, and still waiting to be consumed. */
  replay: { published: number; waiting: number } | null;
  rebuild: RebuildProgress | null;
  /** On request (`?preview=<name>`): what a rebuild would read, for the confirm step. */
  preview?: { events: number | null; counting: 'relevant' | 'log' };
}

const BEHIND_CAP = 1000;

/** What a projection still has to apply, counted in the log from its position. */
async function behindOf(eventStore: EventStore, projection: AnyProjection, position: LogPosition | null, head: LogPosition | null): Promise<number> {
  if (head === null) return 0;
  const next = await eventStore.readAll({ ...(position === null ? {} : { after: position }), limit: BEHIND_CAP + 1, filter: { eventTypes: [...projection.eventTypes] } });
  return next.filter((e) => e.position <= head).length;
}

/** Counted as the rebuild counts (`counting`): with the store's filter when the rebuild uses it. */
async function previewOf(eventStore: EventStore, projection: AnyProjection): Promise<NonNullable<ProjectionStatus['preview']>> {
  const filtered = projection.eventTypes.length * 2 < eventTypes.length;
  const events = eventStore.countEvents ? await eventStore.countEvents(filtered ? { eventTypes: [...projection.eventTypes] } : undefined) : null;
  return { events, counting: filtered ? 'relevant' : 'log' };
}

export async function projectionStatuses(deps: ProjectionStatusDeps, preview?: string): Promise<ProjectionStatus[]> {
  const head = await deps.eventStore.headPosition();
  return Promise.all(
    deps.projections.map(async (projection): Promise<ProjectionStatus> => {
      const runner = deps.runners.find((r) => r.projection.name === projection.name);
      const rebuild = await deps.rebuilds.progress(projection.name);
      const position = ((await deps.documentStore.getCheckpoint(checkpointOf(projection.collection.name))) ?? null) as LogPosition | null;
      const groupId = groupIdOf(projection);
      const partitions = await deps.bus.lag(groupId);
      const lag = partitions.reduce((n, p) => n + p.lag, 0);
      const replayTopic = replayTopicOf(groupId);
      const replayParts = partitions.filter((p) => p.topic === replayTopic);
      const published = replayParts.reduce((n, p) => n + p.end, 0);
      const behind = await behindOf(deps.eventStore, projection, position, head);
      const documents = await (await deps.documentStore.collection(projection.collection)).count();
      const rebuilding = rebuild !== null && rebuild.phase !== 'done' && rebuild.phase !== 'failed';
      const own = runner?.status();
      return {
        name: projection.name,
        status: rebuilding ? 'rebuilding' : (own?.state ?? 'external'),
        groupId,
        position,
        headPosition: head,
        lag,
        behind: Math.min(behind, BEHIND_CAP),
        behindCapped: behind > BEHIND_CAP,
        documents,
        applied: own ? { events: own.eventsApplied, skipped: own.eventsSkipped } : null,
        replay: published > 0 ? { published, waiting: replayParts.reduce((n, p) => n + p.lag, 0) } : null,
        rebuild,
        ...(preview === projection.name ? { preview: await previewOf(deps.eventStore, projection) } : {}),
      };
    }),
  );
}

const ProjectionsQuery = z.strictObject({
  preview: z.string().regex(/^[a-z]{1,32}$/, { error: 'not a projection name' }).optional().meta({ description: 'Also count what a rebuild of this projection would read (for a confirm step)' }),
});

export function projectionRoutes(deps: ProjectionStatusDeps, auth: RequestHandler): Router {
  const router = Router();
  router.get('/api/projections', auth, requireRole('admin'), async (req, res) => {
    const { preview } = parseWith(ProjectionsQuery, req.query, 'query');
    if (preview !== undefined && !deps.projections.some((p) => p.name === preview)) throw new NotFoundError(`no projection named ${preview}`);
    res.json({ items: await projectionStatuses(deps, preview) });
  });
  router.post('/api/projections/:name/rebuild', auth, requireRole('admin'), async (req, res) => {
    const { name } = parseWith(ProjectionParams, req.params, 'path');
    if (!deps.projections.some((p) => p.name === name)) throw new NotFoundError(`no projection named ${name}`);
    const progress = await deps.rebuilds.start(name);
    res.status(202).location(`/api/projections`).json(progress);
  });
  return router;
}

export const projectionPaths: Paths = {
  '/api/projections': {
    get: {
      operationId: 'listProjections',
      tags: ['projections'],
      summary: 'Every projection: position, lag, events behind, documents, rebuild and replay progress (admin)',
      security: bearer,
      requestParams: { query: ProjectionsQuery },
      responses: { '200': json('The projections', ProjectionList), ...problems(401, 403, 404) },
    },
  },
  '/api/projections/{name}/rebuild': {
    post: {
      operationId: 'rebuildProjection',
      tags: ['projections'],
      summary: 'Rebuild a projection from scratch (admin)',
      description:
        'Replays the log into a shadow collection; the live one keeps serving until the new one has caught up and is swapped in. Progress: `GET /api/projections` or the `projection` events of `GET /api/live`. A second start while one runs, on this gateway or another, is a 409. The rebuild runs in a worker thread; across the swap every projector replica, in any process, is paused through the bus and acknowledges (`handover`).',
      security: bearer,
      requestParams: { path: ProjectionParams },
      responses: { '202': json('The rebuild has started', RebuildProgressSchema), ...problems(401, 403, 404, 409) },
    },
  },
};
