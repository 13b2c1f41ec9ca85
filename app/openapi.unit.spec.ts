import { readFileSync } from 'node:fs';
import { compileErrors, validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { openApiDocument, openApiFile, openApiText } from './openapi';

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 (checked by @readme/openapi-parser)', async () => {
    // validate() dereferences in place: give it a copy.
    const result = await validate(structuredClone(openApiDocument()) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('is committed as generated: run `npm run openapi` after changing a route or schema', () => {
    expect(readFileSync(openApiFile, 'utf8')).toBe(openApiText());
  });

  it('describes every route with its problem+json errors, and the bearer scheme', () => {
    const doc = openApiDocument();
    const operations = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      Object.entries(item as Record<string, { operationId?: string; responses: Record<string, { content?: Record<string, unknown> }> }>).map(
        ([method, op]) => ({ path, method, op }),
      ),
    );
    expect(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()).toEqual(
      [
        'POST /api/auth/register',
        'POST /api/auth/login',
        'POST /api/orders',
        'GET /api/orders',
        'GET /api/orders/{orderId}',
        'POST /api/orders/{orderId}/cancel',
        'POST /api/admin/products',
        'POST /api/admin/products/{sku}/restock',
        'GET /api/products',
        'GET /api/sagas',
        'GET /api/sagas/{orderId}',
        'GET /api/saga-stats',
        'GET /api/saga-stats/states/{state}/instances',
        'GET /api/saga-stats/transitions/{from}/{to}/instances',
        'GET /api/saga-definitions',
        'POST /api/sagas/{orderId}/what-if',
        'POST /api/sagas/{orderId}/actions',
        'POST /api/sagas/{orderId}/migrate',
        'GET /api/stats',
        'GET /api/mailbox',
        'GET /api/saga-definition',
        'GET /api/streams',
        'GET /api/streams/{streamId}/events',
        'GET /api/streams/{streamId}/state',
        'GET /api/log',
        'POST /api/replay',
        'GET /api/projections',
        'POST /api/projections/{name}/rebuild',
        'GET /api/dead-letters',
        'POST /api/dead-letters/{id}/retry',
        'POST /api/dead-letters/{id}/discard',
        'GET /api/live',
        'POST /api/live/ticket',
        'GET /api/openapi.json',
        'GET /healthz',
        'GET /metrics',
      ].sort(),
    );
    for (const { path, method, op } of operations) {
      expect(op.operationId, `${method} ${path}`).toBeTruthy();
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400 && path.startsWith('/api/')) {
          expect(Object.keys(response.content ?? {}), `${method} ${path} ${status}`).toEqual(['application/problem+json']);
        }
      }
    }
    expect(doc.components?.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(Object.keys(doc.paths?.['/api/live']?.get?.responses?.['200'] && (doc.paths['/api/live'].get.responses['200'] as { content: object }).content)).toEqual([
      'text/event-stream',
    ]);
  });

  it('links a placed order to reading and cancelling it (for stateful clients and fuzzers)', () => {
    const placed = openApiDocument().paths?.['/api/orders']?.post?.responses?.['202'] as { links?: Record<string, { operationId: string }> };
    expect(Object.values(placed.links ?? {}).map((l) => l.operationId)).toEqual(expect.arrayContaining(['getOrder', 'cancelOrder']));
  });
});
