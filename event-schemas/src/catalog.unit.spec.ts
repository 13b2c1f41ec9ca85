import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { checkEvent, currentVersion, eventCatalog, eventTypes, UnknownEventTypeError, upcast, validateEvent } from './catalog';
import { categories } from './streams';
import { catalogAsJsonSchema } from './export-json-schema';

const at = '2026-01-02T03:04:05.000Z';
const v1Placed = {
  orderId: 'legacy-1',
  customerId: 'cust-1',
  customerEmail: 'ann@example.com',
  items: [{ sku: 'MUG-001', name: 'Mug', quantity: 2, unitPrice: 1250 }],
  total: 2500,
  payment: { method: 'card', token: 'tok_1', last4: '4242' },
  placedAt: at,
};

describe('schema versions and upcasting', () => {
  it('reads a stored v1 OrderPlaced row back as v2: the single-currency days were USD', () => {
    // Exactly what a v1 row's data column holds.
    const row = JSON.stringify(v1Placed);
    expect(currentVersion('OrderPlaced')).toBe(2);
    expect(upcast('OrderPlaced', 1, JSON.parse(row))).toEqual({ ...v1Placed, currency: 'USD' });
  });

  it('the upcast result passes the current schema, and v1-shaped data no longer does', () => {
    expect(validateEvent('OrderPlaced', upcast('OrderPlaced', 1, v1Placed))).toEqual({ ...v1Placed, currency: 'USD' });
    const result = checkEvent('OrderPlaced', v1Placed);
    expect(result.success).toBe(false);
    expect(!result.success && result.error instanceof ZodError && result.error.issues.map((i) => i.path)).toEqual([['currency']]);
  });

  it('leaves data already at the current version untouched', () => {
    const v2 = { ...v1Placed, currency: 'EUR' };
    expect(upcast('OrderPlaced', 2, v2)).toBe(v2);
    const confirmed = { orderId: 'o1', confirmedAt: at };
    expect(upcast('OrderConfirmed', 1, confirmed)).toBe(confirmed);
  });

  it('refuses a corrupt v1 row instead of inventing the missing fields', () => {
    const { total: _total, ...withoutTotal } = v1Placed;
    expect(() => upcast('OrderPlaced', 1, withoutTotal)).toThrow(ZodError);
  });

  it('every event type has a category, a version from 1, and an upcaster for each older version', () => {
    for (const type of eventTypes) {
      const entry = eventCatalog[type] as { category: string; version: number; upcasters?: Record<number, unknown> };
      expect(categories).toContain(entry.category);
      expect(Number.isInteger(entry.version) && entry.version >= 1).toBe(true);
      for (let v = 1; v < entry.version; v++) expect(entry.upcasters?.[v], `${type} v${v} -> v${v + 1}`).toBeDefined();
    }
  });
});

describe('validation', () => {
  it('accepts a valid event and reports each invalid field with its path', () => {
    expect(checkEvent('OrderConfirmed', { orderId: 'o1', confirmedAt: at })).toEqual({ success: true, data: { orderId: 'o1', confirmedAt: at } });
    const bad = checkEvent('OrderConfirmed', { orderId: 'has spaces', confirmedAt: 'soon', extra: 1 });
    expect(bad.success).toBe(false);
    const issues = !bad.success && bad.error instanceof ZodError ? bad.error.issues : [];
    expect(issues.map((i) => ({ path: i.path, code: i.code }))).toEqual([
      { path: ['orderId'], code: 'invalid_format' },
      { path: ['confirmedAt'], code: 'invalid_format' },
      { path: [], code: 'unrecognized_keys' },
    ]);
  });

  it('names an unknown event type instead of guessing', () => {
    const result = checkEvent('OrderTeleported', {});
    expect(result.success).toBe(false);
    expect(!result.success && result.error).toBeInstanceOf(UnknownEventTypeError);
    expect(() => validateEvent('OrderTeleported', {})).toThrow(UnknownEventTypeError);
  });
});

describe('JSON Schema export', () => {
  const exported = catalogAsJsonSchema();

  it('lists every event type with its category, current schema version and a closed object schema', () => {
    expect(Object.keys(exported.events).sort()).toEqual([...eventTypes].sort());
    for (const type of eventTypes) {
      const e = exported.events[type] as { category: string; schemaVersion: number; data: Record<string, unknown> };
      expect(e.category).toBe(eventCatalog[type].category);
      expect(e.schemaVersion).toBe(currentVersion(type));
      expect(e.data).toMatchObject({ type: 'object', additionalProperties: false });
    }
  });

  it('describes OrderPlaced v2: currency required, card kept as token and last four digits only', () => {
    const placed = exported.events.OrderPlaced as { data: { required: string[]; properties: Record<string, Record<string, unknown>> } };
    expect([...placed.data.required].sort()).toEqual(
      ['currency', 'customerEmail', 'customerId', 'items', 'orderId', 'payment', 'placedAt', 'total'].sort(),
    );
    expect(placed.data.properties.currency).toMatchObject({ type: 'string', pattern: '^[A-Z]{3}$' });
    expect(Object.keys((placed.data.properties.payment as { properties: object }).properties).sort()).toEqual(['last4', 'method', 'token']);
  });

  it('exports the envelope metadata and the command catalog', () => {
    expect(exported.eventMetadata).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['correlationId', 'causationId', 'schemaVersion', 'occurredAt']),
    });
    expect(Object.keys(exported.commands)).toContain('ReserveStock');
  });

  it('the committed json-schema/catalog.schema.json is what `npm run schemas` writes today', () => {
    const file = fileURLToPath(new URL('../json-schema/catalog.schema.json', import.meta.url));
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(JSON.parse(JSON.stringify(exported)));
  });
});
