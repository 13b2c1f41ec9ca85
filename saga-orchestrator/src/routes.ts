import { Router } from 'express';
import { sagaDefinition } from './export';

/** `GET /api/saga-definition`: the saga machine as JSON for the visualiser (public, no token). */
export function sagaDefinitionRoutes(deps: { stepTimeoutMs: number }): Router {
  const router = Router();
  // The machine does not change while the process runs, so the JSON is built once.
  const definition = sagaDefinition({ stepTimeoutMs: deps.stepTimeoutMs });
  router.get('/api/saga-definition', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').json(definition);
  });
  return router;
}
