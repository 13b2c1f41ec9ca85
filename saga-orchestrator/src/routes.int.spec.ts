import { describe, it, expect, afterAll } from 'vitest';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { sagaDefinitionRoutes } from './routes';
import { sagaDefinition } from './export';

describe('GET /api/saga-definition', () => {
  const app = express().use(sagaDefinitionRoutes({ stepTimeoutMs: 1234 }));
  const server = app.listen(0, '127.0.0.1');
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the machine definition as public JSON', async () => {
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/api/saga-definition`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(sagaDefinition({ stepTimeoutMs: 1234 }));
  });
});
