import { z } from 'zod';

/**
 * Configuration from the environment. An absent server URL means the embedded adapter:
 * EVENTSTORE_URL, KAFKA_BROKERS, MONGODB_URL and SMTP_URL each switch one port to its server.
 */
const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
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
});

export type Config = z.infer<typeof Env> & { mode: 'embedded' | 'distributed' };

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(`invalid configuration:\n${z.prettifyError(parsed.error)}`);
  }
  const c = parsed.data;
  const distributed = Boolean(c.EVENTSTORE_URL || c.KAFKA_BROKERS || c.MONGODB_URL);
  return { ...c, mode: distributed ? 'distributed' : 'embedded' };
}
