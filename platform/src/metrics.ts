import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry per service instance (never prom-client's global one), so two
 * services in one process, or two apps in one test, never share or clash on metrics.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  counter<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string = never>(name: string, help: string, labelNames?: readonly L[], buckets?: number[]): Histogram<L>;
  /** The exposition text for `/metrics`. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag). Off by default in tests, on in the composition roots. */
  collectDefault?: boolean;
}

export function createMetrics(serviceName: string, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: serviceName });
  if (options.collectDefault) collectDefaultMetrics({ register: registry });

  // Re-creating a metric with the same name returns the first one, so modules can ask for it idempotently.
  const existing = <M>(name: string): M | undefined => registry.getSingleMetric(name) as M | undefined;

  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    existing<Counter<L>>(name) ?? new Counter<L>({ name, help, labelNames, registers: [registry] });
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    existing<Gauge<L>>(name) ?? new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const histogram = <L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets?: number[],
  ) =>
    existing<Histogram<L>>(name) ??
    new Histogram<L>({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) });

  const httpRequestDuration = histogram(
    'http_request_duration_seconds',
    'HTTP request duration by method, route pattern and status',
    ['method', 'route', 'status'],
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );

  return {
    registry,
    httpRequestDuration,
    counter,
    gauge,
    histogram,
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
