// The run's graph: one node per task of the flow (a mapped task is one node with a segmented state
// bar and its counts, never one node per child), coloured by state with the state's name written,
// laid out by dagre. Each node is a button: Tab to it, Enter opens the task.

import {
  Background,
  Controls,
  type Edge,
  Handle,
  type Node,
  type NodeProps,
  Position,
  ReactFlow,
  type ReactFlowInstance,
} from "@xyflow/react";
import "@xyflow/react/dist/base.css";
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { formatDuration } from "../format.ts";
import { type Cover, contains, cover, nextShown, openingViewport, sameSet, viewRect } from "../graph-view.ts";
import type { LayoutInput, LayoutResult } from "../layout.ts";
import { SegmentedBar, StateBadge, stateGroup } from "../states.tsx";
import { type TaskSummary, taskState } from "../tasks.ts";
import { useLayout, WORKER_THRESHOLD } from "../use-layout.ts";

interface TaskNodeData extends Record<string, unknown> {
  summary: TaskSummary;
  selected: boolean;
  onSelect: (slug: string) => void;
}

const NODE_W = 230;
const NODE_H = 62;
const MAPPED_H = 112;
/** A big graph's opening zoom, and how many of its visible nodes are drawn per frame. */
const BIG_ZOOM = 0.75;
const PER_FRAME = 8;
/** React Flow gets the nodes within this many views of the view (each side). */
const MARGIN = 1;
/** At most this many nodes outside that, the far ends of edges leaving it. */
const MAX_FAR_ENDS = 200;
const EMPTY: ReadonlySet<string> = new Set();

const TaskNode = memo(function TaskNode({ data }: NodeProps<Node<TaskNodeData>>) {
  const s = data.summary;
  const state = taskState(s);
  const duration =
    s.startedAt !== undefined ? formatDuration((s.endedAt ?? Date.now()) - s.startedAt) : undefined;
  return (
    <button
      type="button"
      className={`tasknode st-border-${stateGroup(state)}${data.selected ? " selected" : ""}${s.mapped ? " mapped" : ""}`}
      onClick={() => data.onSelect(s.slug)}
      aria-pressed={data.selected}
      aria-label={`${s.slug}${s.mapped ? `, mapped over ${s.total}` : ""}, ${state}`}
      data-slug={s.slug}
      data-state={state}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <span className="tasknode-title">
        <span className="tasknode-slug">{s.slug}</span>
        {s.mapped && (
          <span className="mapcount">{s.total > 0 ? `[${s.total.toLocaleString()}]` : "mapped"}</span>
        )}
      </span>
      <span className="tasknode-state">
        <StateBadge state={state} />
        {duration && <span className="muted small">{duration}</span>}
      </span>
      {s.mapped && <SegmentedBar counts={s.counts} />}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </button>
  );
});

const nodeTypes = { task: TaskNode };
const ORIGIN = { x: 0, y: 0 };
const DEFAULT_VIEWPORT = { x: 16, y: 16, zoom: BIG_ZOOM };
const FIT_VIEW = { padding: 0.15, maxZoom: 1.1 };

export const Dag = memo(function Dag({
  tasks,
  selected,
  onSelect,
  onPainted,
}: {
  tasks: TaskSummary[];
  selected: string | undefined;
  onSelect: (slug: string) => void;
  onPainted?: (info: { nodes: number; engine: string; layoutMs: number }) => void;
}) {
  // The layout input keeps its identity while the graph's shape does (states change far more often).
  const shape = useRef<{ key: string; input: LayoutInput } | undefined>(undefined);
  const key = tasks.map((t) => `${t.slug}${t.mapped ? "*" : ""}<${t.upstream.join(",")}`).join("|");
  if (shape.current?.key !== key) {
    shape.current = {
      key,
      input: {
        nodes: tasks.map((t) => ({ id: t.slug, width: NODE_W, height: t.mapped ? MAPPED_H : NODE_H })),
        edges: tasks.flatMap((t) => t.upstream.map((u) => ({ source: u, target: t.slug }))),
      },
    };
  }
  const input = shape.current.input;
  const layout = useLayout(input);

  // A node keeps its object while its task's summary, selection and position do, so React Flow
  // neither re-reads nor re-draws the nodes a live update did not touch.
  const nodeCache = useRef(new Map<string, Node<TaskNodeData>>());
  const nodes: Node<TaskNodeData>[] = useMemo(() => {
    const cache = nodeCache.current;
    const out = tasks.map((t) => {
      const position = layout.positions[t.slug] ?? ORIGIN;
      const isSelected = t.slug === selected;
      const old = cache.get(t.slug);
      if (
        old &&
        old.data.summary === t &&
        old.data.selected === isSelected &&
        old.data.onSelect === onSelect &&
        old.position === position
      )
        return old;
      const height = t.mapped ? MAPPED_H : NODE_H;
      const node: Node<TaskNodeData> = {
        id: t.slug,
        type: "task",
        position,
        data: { summary: t, selected: isSelected, onSelect },
        width: NODE_W,
        height,
        // Size and handles given, so React Flow never has to mount a node to measure it (it
        // would mount all 1,000 of a big graph once, visible or not).
        measured: { width: NODE_W, height },
        handles: [
          { type: "target" as const, position: Position.Left, x: 0, y: height / 2 },
          { type: "source" as const, position: Position.Right, x: NODE_W, y: height / 2 },
        ],
        draggable: false,
        selectable: false,
        focusable: false,
      };
      cache.set(t.slug, node);
      return node;
    });
    if (cache.size > out.length * 2) {
      const live = new Set(tasks.map((t) => t.slug));
      for (const k of cache.keys()) if (!live.has(k)) cache.delete(k);
    }
    return out;
  }, [tasks, layout, selected, onSelect]);
  const edges: Edge[] = useMemo(
    () =>
      input.edges.map((e) => ({
        id: `${e.source}->${e.target}`,
        source: e.source,
        target: e.target,
        focusable: false,
        animated: false,
      })),
    [input],
  );

  // A big graph opens on its first root at a readable zoom, and React Flow is given only the nodes
  // around the view (graph-view.ts): whatever the graph's size, it lays out, measures and draws a
  // few dozen nodes, and a live update or a pan costs it no more. React Flow is mounted empty
  // while the worker lays the graph out (its mount is a task of its own); once the view knows its
  // size and the layout is here, the view moves to the first root and the nodes are handed over
  // a few a frame, those in view first, as they are after a pan that leaves the covered rectangle.
  const big = tasks.length > WORKER_THRESHOLD;
  const wrap = useRef<HTMLDivElement>(null);
  const flow = useRef<ReactFlowInstance<Node<TaskNodeData>, Edge> | undefined>(undefined);
  const [viewReady, setViewReady] = useState(false);
  const [target, setTarget] = useState<{ layout: LayoutResult; cover: Cover }>();
  const [shown, setShown] = useState<ReadonlySet<string>>(EMPTY);
  const boxes = useMemo(
    () => input.nodes.map((n) => ({ ...n, ...(layout.positions[n.id] ?? ORIGIN) })),
    [input, layout],
  );
  const viewSize = useCallback(
    () => ({ width: wrap.current?.clientWidth || 1200, height: wrap.current?.clientHeight || 600 }),
    [],
  );
  useEffect(() => {
    if (!big || !viewReady || layout.engine === "pending" || target?.layout === layout) return;
    const view = viewSize();
    const root = tasks.find((t) => t.upstream.length === 0) ?? tasks[0];
    const viewport = openingViewport(
      boxes.find((b) => b.id === root?.slug),
      view,
      BIG_ZOOM,
    );
    void flow.current?.setViewport(viewport);
    setTarget({ layout, cover: cover(boxes, input.edges, viewport, view, MARGIN, MAX_FAR_ENDS) });
    setShown(EMPTY);
  }, [big, viewReady, layout, input, tasks, target, boxes, viewSize]);
  const current = target?.layout === layout ? target : undefined;
  // The view moved (or was resized): once it leaves the covered rectangle, cover it again.
  const moved = useRef<number | undefined>(undefined);
  const recover = useCallback(() => {
    moved.current = undefined;
    const vp = flow.current?.getViewport();
    if (!vp || !current) return;
    const view = viewSize();
    if (contains(current.cover.rect, viewRect(vp, view))) return;
    setTarget({ layout: current.layout, cover: cover(boxes, input.edges, vp, view, MARGIN, MAX_FAR_ENDS) });
  }, [current, boxes, input, viewSize]);
  const onMove = useCallback(() => {
    if (big && moved.current === undefined) moved.current = requestAnimationFrame(recover);
  }, [big, recover]);
  useEffect(() => {
    if (!big || !wrap.current) return;
    const o = new ResizeObserver(() => onMove());
    o.observe(wrap.current);
    return () => o.disconnect();
  }, [big, onMove]);
  useEffect(
    () => () => {
      if (moved.current !== undefined) cancelAnimationFrame(moved.current);
    },
    [],
  );
  // The shown nodes converge on the target a batch a frame (those in view first); nodes that
  // left it go at once.
  const done = !big || (current !== undefined && sameSet(shown, current.cover.ids));
  useEffect(() => {
    if (!big || !current || done) return;
    const f = requestAnimationFrame(() => setShown(nextShown(shown, current.cover, PER_FRAME)));
    return () => cancelAnimationFrame(f);
  }, [big, current, done, shown]);
  const shownNodes = useMemo(
    () => (!big ? nodes : nodes.filter((n) => shown.has(n.id))),
    [big, nodes, shown],
  );
  const shownEdges = useMemo(
    () => (!big ? edges : edges.filter((e) => shown.has(e.source) && shown.has(e.target))),
    [big, edges, shown],
  );
  const onNodeClick = useCallback((_e: unknown, node: Node) => onSelect(node.id), [onSelect]);
  const onInit = useCallback((instance: ReactFlowInstance<Node<TaskNodeData>, Edge>) => {
    flow.current = instance;
    setViewReady(true);
  }, []);

  const drawnMarked = useRef<LayoutResult | undefined>(undefined);
  useEffect(() => {
    if (!big || !done || !current || drawnMarked.current === current.layout) return;
    drawnMarked.current = current.layout;
    performance.mark("flotilla:graph-drawn", { detail: { nodes: tasks.length, given: shown.size } });
  }, [big, done, current, tasks.length, shown]);
  useEffect(() => {
    if (tasks.length > 0 && layout.engine !== "pending")
      onPainted?.({ nodes: tasks.length, engine: layout.engine, layoutMs: layout.ms });
  }, [layout, tasks.length, onPainted]);

  if (tasks.length === 0) return <p className="muted empty">No task has run yet.</p>;
  return (
    <div
      className="dag"
      ref={wrap}
      data-layout={layout.engine}
      data-nodes={tasks.length}
      data-drawn={done ? "all" : "some"}
      data-given={big ? shown.size : tasks.length}
    >
      {big && !current && (
        <p className="muted empty laying-out" role="status">
          Laying out {tasks.length.toLocaleString()} tasks…
        </p>
      )}
      <ReactFlow
        // A small graph is fitted again when the task panel opens or closes beside it.
        key={big ? "big" : selected ? "with-panel" : "alone"}
        nodes={shownNodes}
        edges={shownEdges}
        onInit={onInit}
        onMove={big ? onMove : undefined}
        // Of the nodes it is given, React Flow draws those in view.
        onlyRenderVisibleElements={big}
        nodeTypes={nodeTypes}
        // A small graph is fitted to the view; a big one opens on its first root.
        fitView={!big}
        fitViewOptions={FIT_VIEW}
        defaultViewport={DEFAULT_VIEWPORT}
        minZoom={0.05}
        onNodeClick={onNodeClick}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        colorMode="light"
      >
        <Background gap={24} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
});
