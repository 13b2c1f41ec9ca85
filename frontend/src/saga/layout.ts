export interface Point {
  x: number;
  y: number;
}

export interface Layout {
  nodes: Map<string, Point & { width: number; height: number }>;
  /** Each edge's route as ELK drew it (start, bends, end), and where its label goes. */
  edges: Map<string, { points: Point[]; label?: Point }>;
  width: number;
  height: number;
}

export const nodeHeight = 58;

export function nodeWidth(label: string): number {
  return Math.max(196, Math.round(label.length * 7.6) + 48);
}

export function labelWidth(text: string): number {
  return Math.round(text.length * 6.4) + 28;
}


/** An SVG path through the points with rounded corners. */
export function roundedPath(points: Point[], radius = 8): string {
  if (points.length === 0) return '';
  const [first] = points;
  let d = `M ${first!.x} ${first!.y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i - 1]!;
    const c = points[i]!;
    const n = points[i + 1]!;
    const r = Math.min(radius, Math.hypot(c.x - p.x, c.y - p.y) / 2, Math.hypot(n.x - c.x, n.y - c.y) / 2);
    const a = towards(c, p, r);
    const b = towards(c, n, r);
    d += ` L ${a.x} ${a.y} Q ${c.x} ${c.y} ${b.x} ${b.y}`;
  }
  const last = points[points.length - 1]!;
  return `${d} L ${last.x} ${last.y}`;
}

function towards(from: Point, to: Point, dist: number): Point {
  const len = Math.hypot(to.x - from.x, to.y - from.y) || 1;
  return { x: from.x + ((to.x - from.x) / len) * dist, y: from.y + ((to.y - from.y) / len) * dist };
}
