/**
 * The change one event made to an aggregate's state, as a list of JSON Pointer paths with the
 * value before and after. Objects are compared key by key and arrays index by index; a
 * value whose type changes is replaced whole.
 */
export type Change =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string; oldValue: unknown }
  | { op: 'replace'; path: string; oldValue: unknown; value: unknown };

const pointer = (path: string, key: string | number) => `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function jsonDiff(before: unknown, after: unknown, path = ''): Change[] {
  if (Object.is(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    const changes: Change[] = [];
    const shared = Math.min(before.length, after.length);
    for (let i = 0; i < shared; i++) changes.push(...jsonDiff(before[i], after[i], pointer(path, i)));
    for (let i = shared; i < after.length; i++) changes.push({ op: 'add', path: pointer(path, i), value: after[i] });
    for (let i = before.length - 1; i >= shared; i--) changes.push({ op: 'remove', path: pointer(path, i), oldValue: before[i] });
    return changes;
  }
  if (isObject(before) && isObject(after)) {
    const changes: Change[] = [];
    for (const key of Object.keys(before)) {
      if (!(key in after) || after[key] === undefined) {
        if (before[key] !== undefined) changes.push({ op: 'remove', path: pointer(path, key), oldValue: before[key] });
      } else changes.push(...jsonDiff(before[key], after[key], pointer(path, key)));
    }
    for (const key of Object.keys(after)) {
      if ((!(key in before) || before[key] === undefined) && after[key] !== undefined) changes.push({ op: 'add', path: pointer(path, key), value: after[key] });
    }
    return changes;
  }
  if (before === undefined) return [{ op: 'add', path, value: after }];
  if (after === undefined) return [{ op: 'remove', path, oldValue: before }];
  return [{ op: 'replace', path, oldValue: before, value: after }];
}
