import type { StateChange } from './api';

export type ChangeKind = 'added' | 'removed' | 'changed';
export interface Change extends StateChange {
  kind: ChangeKind;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Leaf-level differences between two JSON values, as dotted paths (`items.0.quantity`). */
export function diffJson(before: unknown, after: unknown, path = ''): Change[] {
  if (Object.is(before, after)) return [];
  if (isObj(before) && isObj(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    const out: Change[] = [];
    for (const k of keys) {
      const p = path ? `${path}.${k}` : k;
      if (!(k in before)) out.push({ path: p, kind: 'added', after: after[k] });
      else if (!(k in after)) out.push({ path: p, kind: 'removed', before: before[k] });
      else out.push(...diffJson(before[k], after[k], p));
    }
    return out;
  }
  if (before === undefined) return [{ path: path || '(state)', kind: 'added', after }];
  if (after === undefined) return [{ path: path || '(state)', kind: 'removed', before }];
  return [{ path: path || '(state)', kind: 'changed', before, after }];
}

/** Reads the server's `changes` when it is a list of `{path, before|from, after|to}`; null otherwise. */
export function serverChanges(raw: unknown): Change[] | null {
  if (!Array.isArray(raw)) return null;
  const out: Change[] = [];
  for (const c of raw) {
    if (!isObj(c) || (typeof c.path !== 'string' && !Array.isArray(c.path))) return null;
    const path = Array.isArray(c.path) ? c.path.join('.') : (c.path as string);
    const before = 'before' in c ? c.before : c.from;
    const after = 'after' in c ? c.after : c.to;
    const kind: ChangeKind =
      c.kind === 'added' || c.op === 'add' || before === undefined ? 'added' : c.kind === 'removed' || c.op === 'remove' || after === undefined ? 'removed' : 'changed';
    out.push({ path, before, after, kind });
  }
  return out;
}

export function show(v: unknown): string {
  if (v === undefined) return '∅';
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}
