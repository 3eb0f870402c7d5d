// DAG layout, pure: dagre's layered layout (the one Argo, Dagster and Flyte use), left to right.
// Positions are nodes' top-left corners.

import dagre from "@dagrejs/dagre";

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
}
export interface LayoutInput {
  nodes: LayoutNode[];
  edges: { source: string; target: string }[];
}
export interface LayoutResult {
  positions: Record<string, { x: number; y: number }>;
  /** "pending": a big graph whose layout is still being computed. */
  engine: "dagre" | "pending";
  ms: number;
}

const RANK_SEP = 56;
const NODE_SEP = 28;

/** dagre, left to right. Cost grows faster than linearly: run it in a worker above a few hundred nodes. */
export function dagreLayout(input: LayoutInput): LayoutResult {
  const t0 = performance.now();
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", ranksep: RANK_SEP, nodesep: NODE_SEP, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of input.nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const e of input.edges) if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const positions: LayoutResult["positions"] = {};
  for (const n of input.nodes) {
    const p = g.node(n.id);
    positions[n.id] = { x: (p?.x ?? 0) - n.width / 2, y: (p?.y ?? 0) - n.height / 2 };
  }
  return { positions, engine: "dagre", ms: performance.now() - t0 };
}
