import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { OperatorReason, SagaOperatorInput, sagaOperatorTopic } from '@saga/event-schemas/saga';
import { streamIdFor } from '@saga/event-schemas/streams';
import type { EventStore } from '@saga/platform/event-store/port';
import { IllegalStateError, NotFoundError, ValidationError } from '@saga/platform/errors';
import { requireRole, userOf } from '@saga/platform/http/auth-middleware';
import { bearer, json, problems, type Paths } from '@saga/platform/http/openapi';
import { parseWith } from '@saga/platform/http/validate';
import type { MessageBus } from '@saga/platform/message-bus/port';
import type { SagaStatsQueries } from '@saga/projections/projectors/saga-stats';
import { planMigration, sagaVersion, sagaVersions, versionSummary, type SagaVersion } from '@saga/saga-orchestrator/definitions';
import { operatorActions } from '@saga/saga-orchestrator/machine';
import { actionRefusal } from '@saga/saga-orchestrator/operator-actions';
import { StepRowSchema } from '@saga/saga-orchestrator/routes';
import { foldSaga, type SagaRecord } from '@saga/saga-orchestrator/saga-stream';
import { machineOfRows, whatIf } from '@saga/saga-orchestrator/what-if';
import { OrderIdParams, EmptyQuery } from './params';

/**
 * The operator's saga routes (admin): the definition versions, what-if replays, actions on one
 * saga and migrations. An action or migration is checked against the saga's stream here (409
 * with the reason when its state does not allow it), then handed to the saga runtime as an
 * input on `commands.saga-operator`: the runtime that owns the saga applies it and records it
 * in the saga's history, with the operator's id and reason (202: accepted).
 */
const version = z.int().min(1).max(1_000_000);
const ActionBody = z.strictObject({ action: z.enum(operatorActions), reason: OperatorReason });
const MigrateBody = z.strictObject({ toVersion: version, reason: z.string().trim().max(500).optional() });
const WhatIfBody = z.union([
  z.strictObject({ version }),
  z.strictObject({ definition: z.strictObject({ steps: z.array(StepRowSchema.partial({ state: true, command: true, success: true, failure: true })).min(1).max(50) }) }),
]);

const PathStep = z.object({ state: z.string(), input: z.string(), at: z.string() });
const WhatIfAnswer = z
  .object({
    original: z.array(PathStep),
    replayed: z.array(PathStep),
    divergesAt: z.int().nullable().meta({ description: 'The first index where the paths differ, or null' }),
    commands: z.array(z.object({ at: z.int().meta({ description: 'Index in `replayed`' }), step: z.string(), type: z.string(), data: z.record(z.string(), z.unknown()) })),
  })
  .meta({ id: 'SagaWhatIf' });
const Accepted = z.object({ orderId: z.string(), requestId: z.string(), accepted: z.string() }).meta({ id: 'SagaRequestAccepted' });
const DefinitionList = z
  .object({
    items: z.array(
      z.object({
        version: z.int(),
        hash: z.string(),
        createdAt: z.string().meta({ format: 'date-time' }),
        summary: z.string(),
        steps: z.array(StepRowSchema),
        running: z.int().meta({ description: 'Sagas running this version now (from the saga-stats projection)' }),
      }),
    ),
  })
  .meta({ id: 'SagaDefinitionList' });

export interface SagaRouteDeps {
  eventStore: EventStore;
  bus: MessageBus;
  sagaStats: SagaStatsQueries;
  clock?: () => Date;
}

export async function sagaOperatorRoutes(deps: SagaRouteDeps, auth: RequestHandler): Promise<Router> {
  const clock = deps.clock ?? (() => new Date());
  await deps.bus.createTopics([{ name: sagaOperatorTopic }]);
  const router = Router();
  const admin = [auth, requireRole('admin')];

  async function stream(orderId: string) {
    const events = await deps.eventStore.readStream(streamIdFor.saga(orderId));
    if (events.length === 0) throw new NotFoundError(`no saga for order ${orderId}`);
    return events;
  }
  async function sagaOf(orderId: string): Promise<SagaRecord> {
    const record = foldSaga(orderId, await stream(orderId));
    if (!record) throw new NotFoundError(`no saga for order ${orderId}`);
    return record;
  }
  async function send(input: SagaOperatorInput): Promise<void> {
    await deps.bus.publish(sagaOperatorTopic, [{ key: input.orderId, value: JSON.stringify(SagaOperatorInput.parse(input)) }]);
  }

  router.get('/api/saga-definitions', ...admin, async (req, res) => {
    parseWith(EmptyQuery, req.query, 'query');
    const running = async (v: SagaVersion) => {
      const { states } = await deps.sagaStats.get(v.version);
      const waiting = new Set(v.steps.flatMap((r) => (r.state ? [r.state] : [])));
      return Object.entries(states).reduce((sum, [state, n]) => sum + (waiting.has(state) ? n : 0), 0);
    };
    res.json({ items: await Promise.all(sagaVersions.map(async (v) => ({ ...versionSummary(v), running: await running(v) }))) });
  });

  router.post('/api/sagas/:orderId/what-if', ...admin, async (req, res) => {
    const { orderId } = parseWith(OrderIdParams, req.params, 'path');
    parseWith(EmptyQuery, req.query, 'query');
    const body = parseWith(WhatIfBody, req.body, 'body');
    let machine;
    if ('version' in body) {
      const found = sagaVersion(body.version);
      if (!found) throw new NotFoundError(`there is no saga definition version ${body.version}`);
      machine = found.machine;
    } else {
      try {
        machine = machineOfRows(body.definition.steps);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new ValidationError(`the definition does not make a saga: ${message}`, [{ path: ['definition', 'steps'], message }]);
      }
    }
    const result = whatIf(await stream(orderId), machine);
    if (!result.ok) throw new IllegalStateError(result.reason);
    res.json(result.answer);
  });

  router.post('/api/sagas/:orderId/actions', ...admin, async (req, res) => {
    const { orderId } = parseWith(OrderIdParams, req.params, 'path');
    parseWith(EmptyQuery, req.query, 'query');
    const { action, reason } = parseWith(ActionBody, req.body, 'body');
    const saga = await sagaOf(orderId);
    const at = clock().toISOString();
    const refused = actionRefusal(saga.version, saga.state, saga.snapshot.context, action, at);
    if (refused) throw new IllegalStateError(`${action} is not allowed: ${refused}`);
    const requestId = randomUUID();
    await send({ kind: 'action', requestId, orderId: orderId as SagaOperatorInput['orderId'], action, operator: userOf(req).id, reason, at });
    res.status(202).json({ orderId, requestId, accepted: action });
  });

  router.post('/api/sagas/:orderId/migrate', ...admin, async (req, res) => {
    const { orderId } = parseWith(OrderIdParams, req.params, 'path');
    parseWith(EmptyQuery, req.query, 'query');
    const { toVersion, reason } = parseWith(MigrateBody, req.body, 'body');
    const saga = await sagaOf(orderId);
    const plan = planMigration(saga.version, saga.state, saga.snapshot.context, toVersion);
    if (!plan.ok) throw new IllegalStateError(`cannot migrate to version ${toVersion}: ${plan.reason}`);
    const requestId = randomUUID();
    await send({ kind: 'migrate', requestId, orderId: orderId as SagaOperatorInput['orderId'], toVersion, operator: userOf(req).id, reason: reason ?? '', at: clock().toISOString() });
    res.status(202).json({ orderId, requestId, accepted: `migrate to version ${toVersion} (${saga.state} -> ${plan.to})` });
  });

  return router;
}

const orderIdPath = { path: OrderIdParams, query: EmptyQuery };

export const sagaOperatorPaths: Paths = {
  '/api/saga-definitions': {
    get: {
      operationId: 'listSagaDefinitions',
      tags: ['sagas'],
      summary: 'Every version of the saga definition, with how many sagas run each (admin)',
      security: bearer,
      requestParams: { query: EmptyQuery },
      responses: { '200': json('The versions, oldest first', DefinitionList), ...problems(401, 403) },
    },
  },
  '/api/sagas/{orderId}/what-if': {
    post: {
      operationId: 'sagaWhatIf',
      tags: ['sagas'],
      summary: "Replay a saga's recorded inputs against another definition, purely (admin)",
      description: 'Body: `{ version }` or `{ definition: { steps } }` (a step table as `GET /api/saga-definition` shows it). Nothing is sent or stored.',
      security: bearer,
      requestParams: orderIdPath,
      requestBody: { required: true, content: { 'application/json': { schema: WhatIfBody } } },
      responses: { '200': json('Both paths and where they part', WhatIfAnswer), ...problems(400, 401, 403, 404, 409, 413, 415) },
    },
  },
  '/api/sagas/{orderId}/actions': {
    post: {
      operationId: 'sagaOperatorAction',
      tags: ['sagas'],
      summary: 'Act on one saga: retry-step, skip-step or compensate (admin)',
      description: "409 with the reason when the saga's state does not allow it. Accepted actions are recorded in the saga's history with the operator's id and reason.",
      security: bearer,
      requestParams: orderIdPath,
      requestBody: { required: true, content: { 'application/json': { schema: ActionBody } } },
      responses: { '202': json('Accepted: the saga runtime applies it', Accepted), ...problems(400, 401, 403, 404, 409, 413, 415) },
    },
  },
  '/api/sagas/{orderId}/migrate': {
    post: {
      operationId: 'migrateSaga',
      tags: ['sagas'],
      summary: 'Move a running saga to a newer definition version (admin)',
      description: "Only where the newer version declares a state for the saga's current state; 409 with the reason otherwise.",
      security: bearer,
      requestParams: orderIdPath,
      requestBody: { required: true, content: { 'application/json': { schema: MigrateBody } } },
      responses: { '202': json('Accepted: the saga runtime applies it', Accepted), ...problems(400, 401, 403, 404, 409, 413, 415) },
    },
  },
};
