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
} from "@xyflow/react";
import "@xyflow/react/dist/base.css";
import { memo, useEffect, useMemo, useRef, useState } from "react";
import { formatDuration } from "../format.ts";
import type { LayoutInput } from "../layout.ts";
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
const NONE: Node<TaskNodeData>[] = [];
const NO_EDGES: Edge[] = [];

export function Dag({
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

  const nodes: Node<TaskNodeData>[] = useMemo(
    () =>
      tasks.map((t) => {
        const height = t.mapped ? MAPPED_H : NODE_H;
        return {
          id: t.slug,
          type: "task",
          position: layout.positions[t.slug] ?? { x: 0, y: 0 },
          data: { summary: t, selected: t.slug === selected, onSelect },
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
      }),
    [tasks, layout, selected, onSelect],
  );
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

  // A big graph's nodes are handed over once the view knows its size, so only the visible ones
  // are ever drawn (before that, React Flow would mount every node once).
  const big = tasks.length > WORKER_THRESHOLD;
  const [viewReady, setViewReady] = useState(false);
  useEffect(() => {
    if (tasks.length > 0) onPainted?.({ nodes: tasks.length, engine: layout.engine, layoutMs: layout.ms });
  }, [layout, tasks.length, onPainted]);

  if (tasks.length === 0) return <p className="muted empty">No task has run yet.</p>;
  return (
    <div className="dag" data-layout={layout.engine} data-nodes={tasks.length}>
      <ReactFlow
        // A small graph is fitted again when the task panel opens or closes beside it.
        key={big ? "big" : selected ? "with-panel" : "alone"}
        nodes={big && !viewReady ? NONE : nodes}
        edges={big && !viewReady ? NO_EDGES : edges}
        onInit={() => setViewReady(true)}
        nodeTypes={nodeTypes}
        // A big graph opens at a readable zoom on its first tasks (only what is visible is drawn);
        // a small one is fitted to the view.
        fitView={!big}
        fitViewOptions={{ padding: 0.15, maxZoom: 1.1 }}
        defaultViewport={{ x: 16, y: 16, zoom: 0.75 }}
        minZoom={0.05}
        onNodeClick={(_e, node) => onSelect(node.id)}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        onlyRenderVisibleElements={big}
        colorMode="light"
      >
        <Background gap={24} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
