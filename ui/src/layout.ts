// DAG layout, pure: dagre's layered layout (the one Argo, Dagster and Flyte use), plus a linear-time
// layered layout (rank = longest path from a root) shown at once while dagre runs in a worker for
// big graphs, as Argo's "fast" mode does. Positions are node centres' top-left corners.

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
  engine: "dagre" | "fast";
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

/** Longest-path layering in O(nodes + edges): columns by rank, rows in input order. */
export function fastLayout(input: LayoutInput): LayoutResult {
  const t0 = performance.now();
  const rank = new Map<string, number>();
  const out = new Map<string, string[]>();
  const indegree = new Map<string, number>();
  for (const n of input.nodes) {
    indegree.set(n.id, 0);
    out.set(n.id, []);
  }
  for (const e of input.edges) {
    if (!out.has(e.source) || !indegree.has(e.target)) continue;
    out.get(e.source)?.push(e.target);
    indegree.set(e.target, (indegree.get(e.target) ?? 0) + 1);
  }
  const queue = input.nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  for (const id of queue) rank.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i] as string;
    const r = rank.get(id) ?? 0;
    for (const t of out.get(id) ?? []) {
      rank.set(t, Math.max(rank.get(t) ?? 0, r + 1));
      const d = (indegree.get(t) ?? 1) - 1;
      indegree.set(t, d);
      if (d === 0) queue.push(t);
    }
  }
  const width = Math.max(0, ...input.nodes.map((n) => n.width));
  const rows = new Map<number, number>();
  const positions: LayoutResult["positions"] = {};
  for (const n of input.nodes) {
    const r = rank.get(n.id) ?? 0;
    const y = rows.get(r) ?? 0;
    positions[n.id] = { x: 8 + r * (width + RANK_SEP), y: 8 + y };
    rows.set(r, y + n.height + NODE_SEP);
  }
  return { positions, engine: "fast", ms: performance.now() - t0 };
}
