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

/** `/items/0/qty` (a JSON Pointer) -> `items.0.qty`; the empty pointer is the whole state. */
function fromPointer(p: string): string {
  if (!p.startsWith('/')) return p || '(state)';
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

/**
 * Reads the server's `changes`: JSON-Patch-like `{op: add|remove|replace, path, value, oldValue}`
 * (the read API's), or `{path, before|from, after|to}`. Null for anything else, so the caller
 * can diff the states itself.
 */
export function serverChanges(raw: unknown): Change[] | null {
  if (!Array.isArray(raw)) return null;
  const out: Change[] = [];
  for (const c of raw) {
    if (!isObj(c) || (typeof c.path !== 'string' && !Array.isArray(c.path))) return null;
    const path = Array.isArray(c.path) ? c.path.join('.') || '(state)' : fromPointer(c.path as string);
    if (c.op === 'add') out.push({ path, kind: 'added', after: c.value });
    else if (c.op === 'remove') out.push({ path, kind: 'removed', before: c.oldValue });
    else if (c.op === 'replace') out.push({ path, kind: 'changed', before: c.oldValue, after: c.value });
    else {
      const before = 'before' in c ? c.before : c.from;
      const after = 'after' in c ? c.after : c.to;
      const kind: ChangeKind = before === undefined ? 'added' : after === undefined ? 'removed' : 'changed';
      out.push({ path, before, after, kind });
    }
  }
  return out;
}

export function show(v: unknown): string {
  if (v === undefined) return '∅';
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}
