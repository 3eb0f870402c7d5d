// Lays out a DAG for the graph view: synchronously with dagre for small graphs, and for big ones
// with dagre in a Web Worker (the graph shows "laying out" until then: drawing a first layout and
// then dagre's would draw every visible node twice on the main thread).

import { useEffect, useMemo, useState } from "react";
import { dagreLayout, type LayoutInput, type LayoutResult } from "./layout.ts";

/** Above this many nodes, dagre runs in a worker. */
export const WORKER_THRESHOLD = 150;

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, (r: LayoutResult) => void>();

function layoutInWorker(input: LayoutInput): Promise<LayoutResult> {
  if (!worker) {
    worker = new Worker(new URL("./layout.worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (e: MessageEvent<{ id: number; result: LayoutResult }>) => {
      waiting.get(e.data.id)?.(e.data.result);
      waiting.delete(e.data.id);
    };
  }
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    worker?.postMessage({ id, input });
  });
}

const PENDING: LayoutResult = { positions: {}, engine: "pending", ms: 0 };

/**
 * `input` must keep its identity while the graph's shape is unchanged: it is laid out again when
 * it changes. A big graph's result is `engine: "pending"` (no positions) until the worker answers.
 */
export function useLayout(input: LayoutInput): LayoutResult {
  const big = input.nodes.length > WORKER_THRESHOLD;
  const initial = useMemo(() => (big ? PENDING : dagreLayout(input)), [input, big]);
  const [better, setBetter] = useState<{ input: LayoutInput; result: LayoutResult } | undefined>();
  useEffect(() => {
    if (!big) return;
    let live = true;
    void layoutInWorker(input).then((result) => {
      performance.mark("flotilla:layout-done", { detail: { nodes: input.nodes.length, ms: result.ms } });
      if (live) setBetter({ input, result });
    });
    return () => {
      live = false;
    };
  }, [input, big]);
  return better?.input === input ? better.result : initial;
}
