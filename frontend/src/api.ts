/**
 * The one HTTP client of the app: every route the UI calls, with the shapes it expects.
 * Errors come back as `ApiError` carrying the server's problem+json, so a page can show
 * the title, the detail and each field issue next to its field.
 */

import { humanIssue } from './messages';
import { reportReachable } from './connectivity';

export type Role = 'customer' | 'admin' | 'service';

export interface User {
  id: string;
  email: string;
  role: Role;
}

export interface Session {
  token: string;
  user: User;
}

export interface FieldIssue {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  issues: FieldIssue[];
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'ApiError';
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
  /** The issue for one form field, matched on the first segment of its path (`items.0.sku` -> `items`). */
  issueFor(field: string): string | undefined {
    const message = this.problem.issues.find((i) => i.path === field || i.path.split('.')[0] === field)?.message;
    return message === undefined ? undefined : humanIssue(message);
  }
}

export interface Product {
  sku: string;
  name: string;
  price: number;
  currency: string;
  available: number;
  reserved: number;
}

export type OrderStatus = 'pending' | 'confirmed' | 'rejected' | 'cancelled';

export interface OrderLine {
  sku: string;
  name?: string;
  quantity: number;
  unitPrice?: number;
}

export interface TimelineEntry {
  at: string;
  type: string;
  streamId?: string;
  revision?: number;
  position?: number;
  detail?: string;
}

export interface OrderSummary {
  orderId: string;
  status: OrderStatus;
  total?: number;
  currency?: string | null;
  placedAt?: string;
  createdAt?: string;
  updatedAt?: string;
  items?: OrderLine[];
  reason?: string | null;
  customerId?: string | null;
  customerEmail?: string | null;
}

/** The order read model; the sub-states are shown when the projection provides them. */
export interface OrderDetail extends OrderSummary {
  customerId?: string | null;
  customerEmail?: string | null;
  paymentMethod?: { last4: string } | null;
  cancellationRequested?: boolean;
  saga?: { state: string | null; status: string | null; flags: string[] };
  payment?: Record<string, unknown>;
  stock?: Record<string, unknown>;
  email?: Record<string, unknown>;
  timeline?: TimelineEntry[];
}

export type SagaStatus = 'running' | 'completed' | 'rejected' | 'cancelled';

/** One applied input; `from` is null for the start. `input` is the event (or timer) type, as a string or `{type, eventId}`. */
export interface SagaHistoryEntry {
  from: string | null;
  to: string;
  input: string | { type: string; eventId?: string };
  at: string;
  commands?: string[];
  /** Who acted, when the input was an operator's action or a migration. */
  operator?: { id: string; action: string; reason: string };
}

export interface SagaInstance {
  orderId: string;
  state: string;
  status: SagaStatus;
  history: SagaHistoryEntry[];
  flags?: string[];
  startedAt?: string;
  endedAt?: string | null;
  durationMs?: number | null;
  timer?: { step: string; dueAt: string } | null;
  /** The saga definition version the instance runs (issue 14: saga versions). */
  version?: number;
  /**
   * Set while a command or event of the saga could not get through (dead-lettered, or a step
   * retried past its limit): an operator must act. A flag or the server's description of it.
   */
  stuck?: boolean | StuckCondition | null;
  /** In the admin's list: whose order it is. */
  customerId?: string | null;
  customerEmail?: string | null;
}

/** The server-side list filters of orders and sagas: id prefix, customer email, a [since, until) window. */
export type ListFilters = {
  q?: string;
  customer?: string;
  since?: string;
  until?: string;
};

export interface StuckCondition {
  reason?: string;
  since?: string;
  step?: string;
  state?: string;
  deadLetterId?: string;
  [key: string]: unknown;
}

/** One saga definition version: a content hash and a human number, with how many sagas run it. */
export interface SagaDefinitionVersion {
  version: number;
  hash: string;
  createdAt: string;
  /** The step table (or how many steps it has). */
  steps: unknown;
  running: number;
}

export type OperatorAction = 'retry-step' | 'skip-step' | 'compensate';

/** A step of a path as the what-if answer gives it: a state name, or a transition. */
export type WhatIfStep = string | { from?: string | null; to?: string; state?: string; input?: string | { type: string }; event?: string; at?: string; [key: string]: unknown };

export interface WhatIfResult {
  original: WhatIfStep[];
  replayed: WhatIfStep[];
  /** The first index where the two paths differ; null when the replay follows the original throughout. */
  divergesAt: number | null;
  /** The commands the replay would have issued. */
  commands: unknown[];
}

export interface DeadLetter {
  id: string;
  topic: string;
  group: string | null;
  key: string;
  orderId: string | null;
  reason: string;
  attempts: number;
  firstFailedAt: string;
  lastFailedAt: string;
  message: unknown;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface StreamInfo {
  streamId: string;
  category?: string;
  /** Revision of the stream's last event. */
  revision?: number;
  lastPosition?: number;
  updatedAt?: string;
}

export interface CategoryInfo {
  category: string;
  streams: number;
}

export interface StreamList {
  categories: CategoryInfo[];
  streams: StreamInfo[];
  next: string | null;
}

export interface RecordedEvent {
  eventId: string;
  type: string;
  streamId: string;
  revision: number;
  /** An opaque cursor into the global log: shown and passed back as it is, never computed with. */
  position: LogPosition;
  data: unknown;
  metadata: Record<string, unknown>;
}

export interface StreamEvents {
  streamId: string;
  /** The stream's last revision. */
  revision: number;
  events: RecordedEvent[];
  /** The revision to continue from in the direction read, or null at that end of the stream. */
  next: number | null;
  /** The revision to read from in the other direction, or null at that end. */
  previous?: number | null;
  direction?: 'forwards' | 'backwards';
}

/** A global log position as the server handed it out (see RecordedEvent.position). */
export type LogPosition = string;

export interface GlobalLog {
  events: RecordedEvent[];
  head: LogPosition | null;
  /** Pass back as `from` for the next page. */
  next: LogPosition | null;
}

/** The UI's name for a log position it passes back unchanged. */
export type LogCursor = LogPosition;

export interface SagaStats {
  total: number;
  states: Record<string, number>;
  /** `from->to` -> times taken. */
  transitions: Record<string, number>;
}

export interface SagaInState {
  orderId: string;
  state: string;
  status: SagaStatus;
  startedAt: string;
  since: string;
}

export interface StateChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

/** `changes` is what the event at `revision` changed: JSON-Patch-like `{op, path, value, oldValue}` entries. */
export interface StateAtRevision {
  state: unknown;
  revision: number;
  lastRevision?: number;
  event?: RecordedEvent | null;
  changes: unknown;
}

export interface RebuildProgress {
  projection?: string;
  /** starting, building, catching-up, verifying, swapping, done or failed. */
  phase: string;
  eventsDone: number;
  /** Events the rebuild reads; null where the store cannot count them. */
  total: number | null;
  /** Events per second. */
  rate?: number;
  etaSeconds?: number | null;
  position?: LogPosition | null;
  startedAt?: string;
  finishedAt?: string | null;
  verification?: { shadowCount: number; liveCount: number; differing: number; caughtUp: boolean } | null;
  /** What eventsDone and total count: the projection's own event types, or every log event. */
  counting?: 'relevant' | 'log';
  /** The pause of the live projector replicas across the swap. */
  handover?: { state: 'pausing' | 'paused' | 'resuming' | 'resumed'; replicas: number; acknowledged: number } | null;
  error?: string | null;
}

export interface ReplayResult {
  groupId: string;
  topic: string;
  fromPosition: LogPosition;
  toPosition: LogPosition;
  published: number;
}

export interface ProjectionStatus {
  name: string;
  /** running, stopped, rebuilding, ... */
  status: string;
  groupId?: string;
  position: LogPosition | null;
  headPosition?: LogPosition | null;
  lag: number;
  /** Events of its types after `position` up to the head (capped: see behindCapped). */
  behind?: number;
  behindCapped?: boolean;
  documents?: number;
  applied?: { events: number; skipped: number } | null;
  replay?: { published: number; waiting: number } | null;
  rebuild?: RebuildProgress | null;
  preview?: { events: number | null; counting: 'relevant' | 'log' };
}

export interface Email {
  emailId: string;
  orderId: string;
  to: string;
  subject: string;
  body: string;
  template: string;
  status?: string;
  error?: string | null;
  attempts?: number;
  sentAt: string | null;
}

export interface Stats {
  capturedTotal?: number;
  refundedTotal?: number;
  confirmedTotal?: number;
  currency?: string;
  [key: string]: unknown;
}

export interface NewProduct {
  sku: string;
  name: string;
  price: number;
  currency: string;
  stock: number;
}

type Query = Record<string, string | number | undefined | null>;

function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

function asIssues(raw: unknown): FieldIssue[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((i: { path?: unknown; message?: unknown }) => ({
    path: Array.isArray(i?.path) ? i.path.join('.') : String(i?.path ?? ''),
    message: String(i?.message ?? 'invalid'),
  }));
}

/** Turns any failed response into a Problem, whether or not the body is problem+json. */
async function problemFrom(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Partial<Problem> & { issues?: unknown; message?: string };
    return {
      type: body.type ?? 'about:blank',
      title: body.title ?? res.statusText ?? 'Request failed',
      status: body.status ?? res.status,
      detail: body.detail ?? body.message,
      issues: asIssues(body.issues),
    };
  } catch {
    return {
      type: 'about:blank',
      title: res.statusText || `HTTP ${res.status}`,
      status: res.status,
      // A proxy or a static server may answer with an HTML page; show its words, not its markup.
      detail: text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300) || undefined,
      issues: [],
    };
  }
}

export interface ApiOptions {
  /** The current bearer token, read at call time so a new login takes effect at once. */
  token: () => string | null;
  /** Called on 401 so the app can drop a stale session. */
  onUnauthorized?: () => void;
  fetch?: typeof fetch;
}

export type Api = ReturnType<typeof createApi>;

export function createApi(options: ApiOptions) {
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const token = options.token();
    const h: Record<string, string> = { Accept: 'application/json, application/problem+json', ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (token) h.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await doFetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      reportReachable(false);
      throw new ApiError({
        type: 'network-error',
        title: 'The server could not be reached',
        status: 0,
        detail: err instanceof Error ? err.message : String(err),
        issues: [],
      });
    }
    // A gateway with the app behind it down answers 502-504: as unreachable as no answer.
    reportReachable(res.status < 502 || res.status > 504);
    if (!res.ok) {
      const problem = await problemFrom(res);
      if (res.status === 401 && token) options.onUnauthorized?.();
      throw new ApiError(problem);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  const get = <T>(path: string, query?: Query) => request<T>('GET', withQuery(path, query));
  const enc = encodeURIComponent;

  return {
    login: (email: string, password: string) => request<Session>('POST', '/api/auth/login', { email, password }),
    register: (email: string, password: string, name: string) =>
      request<Session>('POST', '/api/auth/register', { email, password, name }),

    products: () => get<{ items: Product[] }>('/api/products'),
    addProduct: (p: NewProduct) => request<unknown>('POST', '/api/admin/products', p),
    restock: (sku: string, quantity: number) =>
      request<unknown>('POST', `/api/admin/products/${enc(sku)}/restock`, { quantity }),

    placeOrder: (items: { sku: string; quantity: number }[], card: string, idempotencyKey: string) =>
      request<{ orderId: string }>('POST', '/api/orders', { items, payment: { card } }, { 'Idempotency-Key': idempotencyKey }),
    cancelOrder: (orderId: string) => request<unknown>('POST', `/api/orders/${enc(orderId)}/cancel`, {}),
    orders: (q: { status?: string; customerId?: string; cursor?: string | null; limit?: number } & ListFilters) => get<Page<OrderSummary>>('/api/orders', q),
    order: (orderId: string) => get<OrderDetail>(`/api/orders/${enc(orderId)}`),

    sagaDefinition: (version?: number) => get<unknown>('/api/saga-definition', { version }),
    sagaDefinitions: () => get<{ items: SagaDefinitionVersion[] }>('/api/saga-definitions'),
    migrateSaga: (orderId: string, toVersion: number) => request<unknown>('POST', `/api/sagas/${enc(orderId)}/migrate`, { toVersion }),
    whatIf: (orderId: string, against: { version: number } | { definition: unknown }) => request<WhatIfResult>('POST', `/api/sagas/${enc(orderId)}/what-if`, against),
    sagaAction: (orderId: string, action: OperatorAction, reason: string) => request<unknown>('POST', `/api/sagas/${enc(orderId)}/actions`, { action, reason }),
    deadLetters: (cursor?: string | null, limit = 50) => get<Page<DeadLetter>>('/api/dead-letters', { cursor, limit }),
    retryDeadLetter: (id: string) => request<unknown>('POST', `/api/dead-letters/${enc(id)}/retry`),
    discardDeadLetter: (id: string) => request<unknown>('POST', `/api/dead-letters/${enc(id)}/discard`),
    sagas: (q: { status?: string; cursor?: string | null; limit?: number } & ListFilters) => get<Page<SagaInstance>>('/api/sagas', q),
    saga: (orderId: string) => get<SagaInstance>(`/api/sagas/${enc(orderId)}`),

    streams: (category?: string, prefix?: string) => get<StreamList>('/api/streams', { category, prefix, limit: 500 }),
    streamEvents: (streamId: string, q: { from?: number; direction?: 'forwards' | 'backwards'; type?: string; limit: number }) =>
      get<StreamEvents>(`/api/streams/${enc(streamId)}/events`, q),
    streamState: (streamId: string, revision: number) =>
      get<StateAtRevision>(`/api/streams/${enc(streamId)}/state`, { revision }),
    log: (q: { from?: LogPosition | null; direction?: 'forwards' | 'backwards'; type?: string; limit: number }) => get<GlobalLog>('/api/log', q),
    /** The latest `limit` events, oldest first: read backwards from the head, not from a position computed off it. */
    latestLog: async (limit: number) => (await get<GlobalLog>('/api/log', { direction: 'backwards', limit })).events.reverse(),
    sagaStats: (version?: number) => get<SagaStats>('/api/saga-stats', { version }),
    sagasInState: (state: string, cursor?: string | null) =>
      get<Page<SagaInState>>(`/api/saga-stats/states/${enc(state)}/instances`, { cursor, limit: 50 }),

    projections: (preview?: string) => get<{ items: ProjectionStatus[] }>('/api/projections', preview ? { preview } : undefined),
    rebuild: (name: string) => request<RebuildProgress>('POST', `/api/projections/${enc(name)}/rebuild`),
    replay: (r: { groupId: string; fromPosition: LogPosition; toPosition?: LogPosition }) => request<ReplayResult>('POST', '/api/replay', r),
    stats: () => get<Stats>('/api/stats'),

    mailbox: (q: { cursor?: string | null; to?: string } = {}) => get<Page<Email>>('/api/mailbox', { ...q, limit: 50 }),
  };
}

/** Reads every page of a cursor-paginated list, up to a cap so a huge history can't stall the page. */
export async function allPages<T>(
  fetchPage: (cursor: string | null) => Promise<Page<T>>,
  maxPages = 20,
): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await fetchPage(cursor);
    items.push(...page.items);
    if (!page.nextCursor) return { items, complete: true };
    cursor = page.nextCursor;
  }
  return { items, complete: false };
}

/** A fresh key per checkout attempt; crypto.randomUUID needs a secure context, so fall back to getRandomValues. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * EventSource cannot send headers, so the token buys a one-use ticket (valid 30 s) that opens
 * the stream: the long-lived token never goes in a URL. `lastEventId` resumes after that event.
 */
export async function liveUrl(token: string, lastEventId?: string): Promise<string> {
  const res = await fetch('/api/live/ticket', { method: 'POST', headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
  if (!res.ok) throw new Error(`live stream ticket refused (HTTP ${res.status})`);
  const { ticket } = (await res.json()) as { ticket: string };
  return withQuery('/api/live', { ticket, lastEventId: lastEventId && /^\d+$/.test(lastEventId) ? lastEventId : undefined });
}
