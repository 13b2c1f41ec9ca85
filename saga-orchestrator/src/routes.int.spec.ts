import { describe, it, expect, afterAll } from 'vitest';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { problemHandler } from '@saga/platform/http/problem';
import { sagaDefinitionRoutes } from './routes';
import { sagaVersions, versionDocument } from './definitions';

describe('GET /api/saga-definition', () => {
  const app = express().use(sagaDefinitionRoutes({ stepTimeoutMs: 1234 })).use(problemHandler);
  const server = app.listen(0, '127.0.0.1');
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the machine definition as public JSON', async () => {
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/api/saga-definition`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const newest = versionDocument(sagaVersions.at(-1)!, 1234);
    expect(await res.json()).toEqual(newest);
    expect(newest.version).toBe(2);
  });

  it('serves each version by number, 404 for an unknown one, 400 for a bad one', async () => {
    const { port } = server.address() as AddressInfo;
    const v1 = await fetch(`http://127.0.0.1:${port}/api/saga-definition?version=1`);
    expect(await v1.json()).toEqual(versionDocument(sagaVersions[0]!, 1234));
    const missing = await fetch(`http://127.0.0.1:${port}/api/saga-definition?version=7`);
    expect(missing.status).toBe(404);
    const bad = await fetch(`http://127.0.0.1:${port}/api/saga-definition?version=two`);
    expect(bad.status).toBe(400);
  });
});
