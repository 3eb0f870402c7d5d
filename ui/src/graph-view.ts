// Which nodes of a big graph React Flow is given, pure: the view opens on the first root at a
// readable zoom; React Flow gets only the nodes in a rectangle around the view (the view plus a
// margin on each side) and the ends of the edges that leave it, so whatever the graph's size it
// lays out, measures and draws a few dozen nodes; the rectangle is computed again only once the
// view leaves it. The nodes in view are handed over first, a few a frame, the first time.

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

export interface Size {
  width: number;
  height: number;
}

/** A rectangle in the graph's coordinates. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The view that shows `root` at the left edge, vertically centred, at `zoom`. */
export function openingViewport(root: Box | undefined, view: Size, zoom: number): Viewport {
  if (!root) return { x: 16, y: 16, zoom };
  return { x: 24 - root.x * zoom, y: view.height / 2 - (root.y + root.height / 2) * zoom, zoom };
}

/** What the view shows, in the graph's coordinates, grown by `margin` views on each side. */
export function viewRect(viewport: Viewport, view: Size, margin = 0): Rect {
  const w = view.width / viewport.zoom;
  const h = view.height / viewport.zoom;
  const x0 = -viewport.x / viewport.zoom;
  const y0 = -viewport.y / viewport.zoom;
  return { x0: x0 - w * margin, y0: y0 - h * margin, x1: x0 + w * (1 + margin), y1: y0 + h * (1 + margin) };
}

/** Whether `inner` lies inside `outer`. */
export function contains(outer: Rect, inner: Rect): boolean {
  return inner.x0 >= outer.x0 && inner.y0 >= outer.y0 && inner.x1 <= outer.x1 && inner.y1 <= outer.y1;
}

const meets = (b: Box, r: Rect) =>
  b.x + b.width >= r.x0 && b.x <= r.x1 && b.y + b.height >= r.y0 && b.y <= r.y1;

export interface Cover {
  /** The rectangle covered: the view and its margin. */
  rect: Rect;
  /** The nodes in the view itself, top to bottom, left to right (handed over first). */
  inView: string[];
  /** Every node React Flow is given: those in `rect`, and the far ends of edges leaving it. */
  ids: Set<string>;
}

/**
 * The nodes to give React Flow for this view: those within `margin` views of it, plus, for each
 * edge with one end among them, the other end (so an edge leaving the view is drawn), at most
 * `maxFarEnds` of those.
 */
export function cover(
  boxes: readonly Box[],
  edges: readonly { source: string; target: string }[],
  viewport: Viewport,
  view: Size,
  margin: number,
  maxFarEnds: number,
): Cover {
  const rect = viewRect(viewport, view, margin);
  const seen = viewRect(viewport, view, 0);
  const ids = new Set<string>();
  const inView: Box[] = [];
  for (const b of boxes) {
    if (!meets(b, rect)) continue;
    ids.add(b.id);
    if (meets(b, seen)) inView.push(b);
  }
  let far = 0;
  const near = new Set(ids);
  for (const e of edges) {
    if (far >= maxFarEnds) break;
    const s = near.has(e.source);
    const t = near.has(e.target);
    if (s === t) continue;
    const other = s ? e.target : e.source;
    if (!ids.has(other)) {
      ids.add(other);
      far++;
    }
  }
  inView.sort((a, b) => a.y - b.y || a.x - b.x);
  return { rect, inView: inView.map((b) => b.id), ids };
}

/** Whether two sets hold the same ids. */
export function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/**
 * The next step from `shown` to `target.ids`: the ids that left the target go, and up to `perStep`
 * missing ones come (those in view first).
 */
export function nextShown(shown: ReadonlySet<string>, target: Cover, perStep: number): Set<string> {
  const out = new Set<string>();
  for (const id of shown) if (target.ids.has(id)) out.add(id);
  let added = 0;
  for (const list of [target.inView, target.ids]) {
    for (const id of list) {
      if (added >= perStep) return out;
      if (!out.has(id)) {
        out.add(id);
        added++;
      }
    }
  }
  return out;
}
