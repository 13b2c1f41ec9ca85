import { describe, expect, it } from 'vitest';
import { noFilters, toQuery } from './ListFilters';
import { whenUtc } from '../format';

const now = Date.parse('2026-12-01T12:00:00.000Z');

describe('the list filter bar as a query', () => {
  it('sends nothing for an empty bar', () => {
    expect(toQuery(noFilters, now)).toEqual({});
  });

  it('sends a whole id prefix and a whole email (lower case), and holds back half-typed ones', () => {
    expect(toQuery({ ...noFilters, q: ' 3f2a ', customer: 'Bob@Example.com' }, now)).toEqual({ q: '3f2a', customer: 'bob@example.com' });
    expect(toQuery({ ...noFilters, q: '3f 2a', customer: 'bob@' }, now)).toEqual({});
  });

  it('turns a preset window into since, measured from when it was picked', () => {
    expect(toQuery({ ...noFilters, window: '1h', status: 'rejected' }, now)).toEqual({ since: '2026-12-01T11:00:00.000Z', status: 'rejected' });
  });

  it('sends a custom window only in order, and drops an until that is not after since', () => {
    const since = '2026-11-30T08:00';
    const until = '2026-11-30T09:00';
    const q = toQuery({ ...noFilters, window: 'custom', since, until }, now);
    expect(q).toEqual({ since: new Date(since).toISOString(), until: new Date(until).toISOString() });
    expect(toQuery({ ...noFilters, window: 'custom', since: until, until: since }, now)).toEqual({ since: new Date(until).toISOString() });
  });
});

describe('UTC times', () => {
  it('leaves the date out today and puts it in on another day', () => {
    expect(whenUtc('2026-12-01T09:15:02.120Z', now)).toBe('09:15:02.120 UTC');
    expect(whenUtc('2026-11-30T23:59:59.000Z', now)).toBe('2026-11-30 23:59:59.000 UTC');
  });
});
