// Where a big graph opens and in what order its nodes are handed to React Flow, pure: the view
// opens on the first root, at a readable zoom, and the nodes in that view come first, a few a
// frame, so no frame draws more than a handful of nodes (the rest, off screen, cost no drawing).

export interface Box {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}

/** The view that shows `root` at the left edge, vertically centred, at `zoom`. */
export function openingViewport(
  root: Box | undefined,
  view: { width: number; height: number },
  zoom: number,
): Viewport {
  if (!root) return { x: 16, y: 16, zoom };
  return { x: 24 - root.x * zoom, y: view.height / 2 - (root.y + root.height / 2) * zoom, zoom };
}

/**
 * Batches of node ids to hand over one per frame: the nodes inside the view (top to bottom, left
 * to right) `perFrame` at a time, then the others in batches of `offscreenBatch`.
 */
export function handoverBatches(
  boxes: readonly Box[],
  viewport: Viewport,
  view: { width: number; height: number },
  perFrame: number,
  offscreenBatch: number,
): string[][] {
  const x0 = -viewport.x / viewport.zoom;
  const y0 = -viewport.y / viewport.zoom;
  const x1 = x0 + view.width / viewport.zoom;
  const y1 = y0 + view.height / viewport.zoom;
  const inside: Box[] = [];
  const outside: string[] = [];
  for (const b of boxes) {
    if (b.x + b.width >= x0 && b.x <= x1 && b.y + b.height >= y0 && b.y <= y1) inside.push(b);
    else outside.push(b.id);
  }
  inside.sort((a, b) => a.y - b.y || a.x - b.x);
  const out: string[][] = [];
  for (let i = 0; i < inside.length; i += perFrame) out.push(inside.slice(i, i + perFrame).map((b) => b.id));
  for (let i = 0; i < outside.length; i += offscreenBatch) out.push(outside.slice(i, i + offscreenBatch));
  return out;
}
