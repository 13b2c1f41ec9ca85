/**
 * The command API on real embedded adapters (SQLite event and document stores in a temp
 * dir) listening on 127.0.0.1:0, for the HTTP specs and the benchmark. The handlers come
 * from the app's one composition (app/compose.ts); only the HTTP app around them is built here.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import { createJwt, type Jwt } from '@saga/platform/auth/jwt';
import { createPasswordHasher, type PasswordHasherOptions } from '@saga/platform/auth/passwords';
import type { DocumentStore } from '@saga/platform/document-store/port';
import { openSqliteDocumentStore } from '@saga/platform/document-store/sqlite';
import type { EventStore } from '@saga/platform/event-store/port';
import { openSqliteEventStore } from '@saga/platform/event-store/sqlite';
import { createHttpApp, finishApp } from '@saga/platform/http/app';
import { createLogger } from '@saga/platform/logging';
import { createMetrics, type Metrics } from '@saga/platform/metrics';
import { composeServices } from '../../../app/compose';
import type { InventoryHandlers } from '../inventory/handlers';
import type { OrderHandlers } from '../order/handlers';
import { createSimulatedGateway } from '../payment/simulated-gateway';
import { createUserStore, type UserStore } from '../users/user-store';
import { createAuthRouter, type RateLimitOptions } from './auth-routes';
import { createCommandRouter } from './command-routes';

export const TEST_JWT = { secret: 'command-api-test-secret-0123456789abcdef', issuer: 'order-saga', audience: 'order-saga-api', ttlSeconds: 600 };

export interface TestStack {
  baseUrl: string;
  app: Express;
  jwt: Jwt;
  store: EventStore;
  docs: DocumentStore;
  users: UserStore;
  orders: OrderHandlers;
  inventory: InventoryHandlers;
  metrics: Metrics;
  dataDir: string;
  close(): Promise<void>;
}

export interface TestStackOptions {
  loginRateLimit?: RateLimitOptions;
  loginAccountRateLimit?: RateLimitOptions;
  hasher?: PasswordHasherOptions;
  registerRateLimit?: RateLimitOptions;
  /** Extra routes on the same app, mounted before the 404 and problem handlers (the benchmark's ceiling route). */
  mount?: (app: Express, jwt: Jwt) => void;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'command-api-'));
  const store = await openSqliteEventStore({ dataDir });
  const docs = await openSqliteDocumentStore({ dataDir });
  const clock = () => new Date();
  // No bus: the command API alone, as the gateway runs it.
  const { inventory, order: orders } = composeServices({ store, docs }, { stepTimeoutMs: 30_000, clock }).handlers;
  const users = await createUserStore(docs, clock, createPasswordHasher(options.hasher));
  const jwt = createJwt(TEST_JWT);
  const metrics = createMetrics('command-api-test');
  const logger = createLogger({ name: 'command-api-test', level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'silent' });

  const app = createHttpApp({ name: 'command-api-test', logger, metrics });
  app.use(
    createAuthRouter({
      users,
      jwt,
      ...(options.loginRateLimit ? { loginRateLimit: options.loginRateLimit } : {}),
      ...(options.loginAccountRateLimit ? { loginAccountRateLimit: options.loginAccountRateLimit } : {}),
      registerRateLimit: options.registerRateLimit ?? { windowMs: 60_000, limit: 1000 },
    }),
  );
  app.use(createCommandRouter({ jwt, orders, inventory, payments: createSimulatedGateway() }));
  options.mount?.(app, jwt);
  finishApp(app);

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    app,
    jwt,
    store,
    docs,
    users,
    orders,
    inventory,
    metrics,
    dataDir,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      await docs.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface CallOptions {
  token?: string;
  /** Sent as JSON unless `raw` is given. */
  body?: unknown;
  /** Sent verbatim (with `contentType`, default application/json). */
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface CallResult<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** One real HTTP request; the body comes back parsed when it is JSON of any flavour. */
export async function call<T = any>(baseUrl: string, method: string, url: string, options: CallOptions = {}): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await fetch(`${baseUrl}${url}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  const isJson = /json/.test(res.headers.get('content-type') ?? '');
  return { status: res.status, headers: res.headers, body: (isJson && text ? JSON.parse(text) : text) as T };
}
