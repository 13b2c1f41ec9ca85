import { describe, expect, it } from 'vitest';
import { demoSeeding, isLoopbackHost, loadConfig } from './config';

describe('where the gateway listens', () => {
  it('binds 127.0.0.1 by default on the embedded install, 0.0.0.0 in the distributed stack (containers), HOST otherwise', () => {
    expect(loadConfig({}).HOST).toBe('127.0.0.1');
    expect(loadConfig({ KAFKA_BROKERS: 'kafka:9092' }).HOST).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
  });

  it('knows the loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect([host, isLoopbackHost(host)]).toEqual([host, true]);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com', '128.0.0.1']) expect([host, isLoopbackHost(host)]).toEqual([host, false]);
  });

  it('takes the metrics listener and the login limits from the environment', () => {
    expect(loadConfig({})).toMatchObject({ METRICS_HOST: '127.0.0.1', LOGIN_LIMIT_PER_IP: 20, LOGIN_LIMIT_PER_ACCOUNT: 10 });
    expect(loadConfig({}).METRICS_PORT).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5' })).toMatchObject({ METRICS_PORT: 9464, METRICS_HOST: '10.0.0.5' });
    expect(() => loadConfig({ METRICS_PORT: 'x' })).toThrow(/METRICS_PORT/);
  });
});

describe('demo seeding', () => {
  const plan = (env: Record<string, string>) => demoSeeding(loadConfig(env));

  it('seeds the demo users on a loopback bind (the default)', () => {
    expect(plan({})).toMatchObject({ seed: true, publicDemoPasswordsAllowed: true, note: expect.stringContaining('reachable from this machine only') });
  });

  it('never seeds users with published passwords on a bind other machines reach, unless SEED_DEMO_PUBLIC=true', () => {
    expect(plan({ HOST: '0.0.0.0' })).toEqual({
      seed: false,
      publicDemoPasswordsAllowed: false,
      note: 'demo users are not seeded: HOST=0.0.0.0 is reachable from other machines and their passwords are published (SEED_DEMO_PUBLIC=true seeds them anyway)',
    });
    expect(plan({ HOST: '0.0.0.0', SEED_DEMO_PUBLIC: 'true' })).toMatchObject({ seed: true, publicDemoPasswordsAllowed: true, note: expect.stringContaining('PUBLISHED') });
  });

  it('seeds nothing when seeding is off or in distributed mode', () => {
    expect(plan({ SEED_DEMO: 'false' })).toMatchObject({ seed: false });
    expect(plan({ MONGODB_URL: 'mongodb://mongo:27017' })).toMatchObject({ seed: false });
  });
});
