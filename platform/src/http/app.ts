import { randomUUID } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics';
import { notFoundHandler, problemHandler, UnsupportedMediaTypeError } from './problem';
import './request-context';

export interface HttpAppOptions {
  /** Service name, reported by /healthz. */
  name: string;
  logger: Logger;
  metrics: Metrics;
  /** Largest accepted JSON body (body-parser syntax). Default 64kb. */
  bodyLimit?: string;
  /** Overrides helmet's defaults (e.g. a CSP for the app that serves the frontend). */
  helmet?: HelmetOptions;
  /** Extra readiness details for /healthz; a throw turns it into a 503. */
  health?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  /**
   * Who may read /metrics on this app: the handlers run before it (e.g. authenticate and
   * requireRole('admin')); `false` serves no /metrics here (it has its own listener, see
   * metrics-server.ts). Default: anyone, for an app that is not exposed.
   */
  metricsAccess?: RequestHandler[] | false;
}

/** SSE clients pass their token in the query string; it must not land in the logs. */
const redactUrl = (url: string) => url.replace(/([?&](?:access_token|ticket)=)[^&]*/gi, '$1[redacted]');

/** A caller-chosen correlation id is kept only if it is short and plain, so it is safe in logs and headers. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function correlate(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const header = req.headers['x-correlation-id'];
    const correlationId = typeof header === 'string' && SAFE_ID.test(header) ? header : requestId;
    req.requestId = requestId;
    req.correlationId = correlationId;
    req.log = logger.child({ requestId, correlationId });
    res.setHeader('x-correlation-id', correlationId);
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The route pattern, not the URL, so ids in paths don't explode the label set.
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      metrics.httpRequestDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      req.log.info(
        { method: req.method, url: redactUrl(req.originalUrl), status: res.statusCode, durationMs: Math.round(seconds * 1e4) / 10 },
        'request',
      );
    });
    next();
  };
}

/**
 * Bodies must be JSON: anything else with a body is refused with 415 rather than silently
 * ignored (express.json skips other types and the handler would see no body at all). JSON
 * is UTF-8 (RFC 8259 section 8.1); body-parser would also decode UTF-16 and UTF-32.
 */
const requireJson: RequestHandler = (req, _res, next) => {
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
  if (hasBody && !req.is('application/json')) {
    throw new UnsupportedMediaTypeError('request bodies must be application/json');
  }
  const charset = charsetOf(req.headers['content-type']);
  if (hasBody && charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new UnsupportedMediaTypeError('JSON bodies must be UTF-8 (charset=utf-8 or none)');
  }
  next();
};

function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  return match ? match[1]!.toLowerCase() : undefined;
}

/**
 * API answers carry tokens, orders, emails: no shared or browser cache may keep them. Routes
 * that want caching (none today) set their own header after this; SSE sets its own too.
 */
const noStore: RequestHandler = (req, res, next) => {
  if (req.path.startsWith('/api/') || req.path === '/api' || req.path === '/metrics') res.setHeader('Cache-Control', 'no-store');
  next();
};

/**
 * An Express 5 app with the edge every service shares: security headers, ids and logs per
 * request, JSON-only bodies with a size limit, /healthz and /metrics. The caller mounts its
 * routers and then calls `finishApp` to add the 404 and problem+json handlers.
 */
export function createHttpApp(options: HttpAppOptions): Express {
  const { name, logger, metrics } = options;
  const app = express();
  // Services sit behind no trusted proxy by default: req.ip is the socket address (rate limits key on it).
  app.set('trust proxy', false);
  app.disable('x-powered-by');
  app.use(correlate(logger, metrics));
  app.use(helmet(options.helmet));
  app.use(noStore);

  app.get('/healthz', async (_req, res) => {
    try {
      const details = options.health ? await options.health() : {};
      res.json({ status: 'ok', service: name, ...details });
    } catch (err) {
      logger.warn({ err }, 'health check failed');
      res.status(503).json({ status: 'unavailable', service: name });
    }
  });
  if (options.metricsAccess !== false) {
    app.get('/metrics', ...(options.metricsAccess ?? []), async (_req, res) => {
      res.type(metrics.contentType).send(await metrics.render());
    });
  }

  app.use(requireJson);
  app.use(express.json({ limit: options.bodyLimit ?? '64kb', strict: true, type: 'application/json' }));
  return app;
}

/** Adds the 404 for unmatched routes and the problem+json error handler: call after mounting routers. */
export function finishApp(app: Express): Express {
  app.use(notFoundHandler);
  app.use(problemHandler);
  return app;
}
