import { z } from 'zod';

/**
 * Configuration from the environment. An absent server URL means the embedded adapter:
 * EVENTSTORE_URL, KAFKA_BROKERS, MONGODB_URL and SMTP_URL each switch one port to its server.
 */
const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Where the gateway listens. Default: 127.0.0.1 embedded (a laptop install), 0.0.0.0 distributed (inside a container). */
  HOST: z.string().min(1).optional(),
  /** Serve /metrics on this port only (on METRICS_HOST), unauthenticated; unset: on the gateway, for admins only. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Login attempts a minute, successes included, per client IP and per account. */
  LOGIN_LIMIT_PER_IP: z.coerce.number().int().positive().default(20),
  LOGIN_LIMIT_PER_ACCOUNT: z.coerce.number().int().positive().default(10),
  DATA_DIR: z.string().default('./data'),
  EVENTSTORE_URL: z.string().optional(),
  KAFKA_BROKERS: z.string().optional(),
  MONGODB_URL: z.string().optional(),
  MONGODB_DB: z.string().default('order_saga'),
  SMTP_URL: z.string().optional(),
  JWT_SECRET: z.string().min(32).optional(),
  JWT_ISSUER: z.string().default('order-saga'),
  JWT_AUDIENCE: z.string().default('order-saga-api'),
  JWT_TTL_SECONDS: z.coerce.number().int().positive().default(3600),
  SAGA_STEP_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  BUS_PARTITIONS: z.coerce.number().int().min(1).max(256).default(8),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seed demo users and catalog on first start (embedded mode only, idempotent). */
  SEED_DEMO: z.enum(['true', 'false']).default('true'),
  /** Seed (and keep) the demo users, whose passwords are published, even when HOST is reachable from other machines. */
  SEED_DEMO_PUBLIC: z.enum(['true', 'false']).default('false'),
});

export type Config = Omit<z.infer<typeof Env>, 'HOST'> & { HOST: string; mode: 'embedded' | 'distributed' };

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(`invalid configuration:\n${z.prettifyError(parsed.error)}`);
  }
  const c = parsed.data;
  const distributed = Boolean(c.EVENTSTORE_URL || c.KAFKA_BROKERS || c.MONGODB_URL);
  return { ...c, HOST: c.HOST ?? (distributed ? '0.0.0.0' : '127.0.0.1'), mode: distributed ? 'distributed' : 'embedded' };
}

/** Only this machine can reach an address on the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

export interface DemoSeeding {
  /** Seed the demo users (published passwords) and catalog. */
  seed: boolean;
  /** A published demo password may exist only on a loopback bind, unless SEED_DEMO_PUBLIC says otherwise. */
  publicDemoPasswordsAllowed: boolean;
  /** What the start log says about it. */
  note: string;
}

/** Whether to seed the demo, decided from the configuration alone. */
export function demoSeeding(config: Config): DemoSeeding {
  const loopback = isLoopbackHost(config.HOST);
  const allowed = loopback || config.SEED_DEMO_PUBLIC === 'true';
  if (config.mode !== 'embedded') return { seed: false, publicDemoPasswordsAllowed: allowed, note: 'distributed mode: no demo data is seeded' };
  if (config.SEED_DEMO !== 'true') return { seed: false, publicDemoPasswordsAllowed: allowed, note: 'SEED_DEMO=false: no demo data is seeded' };
  if (loopback) return { seed: true, publicDemoPasswordsAllowed: true, note: `demo users with published passwords are seeded; HOST=${config.HOST} is reachable from this machine only` };
  if (allowed) {
    return { seed: true, publicDemoPasswordsAllowed: true, note: `SEED_DEMO_PUBLIC=true: demo users with PUBLISHED passwords are seeded on HOST=${config.HOST}, reachable from other machines` };
  }
  return {
    seed: false,
    publicDemoPasswordsAllowed: false,
    note: `demo users are not seeded: HOST=${config.HOST} is reachable from other machines and their passwords are published (SEED_DEMO_PUBLIC=true seeds them anyway)`,
  };
}
