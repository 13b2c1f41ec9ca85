import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';
import { drawn, edgeLabel, type SagaGraph } from './definition';
import { labelWidth, nodeHeight, nodeWidth, type Layout } from './layout';

/**
 * Lays the statechart out top to bottom with ELK's layered algorithm, orthogonal edge routes
 * and room for the edge labels, so happy path and compensations read as columns.
 */
export async function layoutGraph(graph: SagaGraph): Promise<Layout> {
  const elk = new ELK();
  const root: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '56',
      'elk.spacing.nodeNode': '48',
      'elk.spacing.edgeNode': '24',
      'elk.spacing.edgeEdge': '14',
      'elk.spacing.edgeLabel': '4',
      'elk.layered.spacing.edgeNodeBetweenLayers': '20',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.padding': '[top=20,left=20,bottom=20,right=20]',
    },
    children: graph.nodes.map((n) => ({ id: n.id, width: nodeWidth(n.label), height: nodeHeight })),
    edges: graph.edges.filter(drawn).map(
      (e): ElkExtendedEdge => ({
        id: e.id,
        sources: [e.source],
        targets: [e.target],
        labels: [{ text: edgeLabel(e), width: labelWidth(edgeLabel(e)), height: 20 }],
      }),
    ),
  };
  const out = await elk.layout(root);
  const nodes: Layout['nodes'] = new Map();
  for (const c of out.children ?? [])
    nodes.set(c.id, { x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 150, height: c.height ?? nodeHeight });
  const edges: Layout['edges'] = new Map();
  for (const e of (out.edges ?? []) as ElkExtendedEdge[]) {
    const s = e.sections?.[0];
    if (!s) continue;
    const points = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint];
    const l = e.labels?.[0];
    const label = l && l.x !== undefined && l.y !== undefined ? { x: l.x + (l.width ?? 0) / 2, y: l.y + (l.height ?? 0) / 2 } : undefined;
    edges.set(e.id, label ? { points, label } : { points });
  }
  return { nodes, edges, width: out.width ?? 0, height: out.height ?? 0 };
}

