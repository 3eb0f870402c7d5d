// Lays out a DAG for the graph view: synchronously with dagre for small graphs, and for big ones a
// fast layered layout at once, replaced by dagre's from a Web Worker when it is ready.

import { useEffect, useMemo, useState } from "react";
import { dagreLayout, fastLayout, type LayoutInput, type LayoutResult } from "./layout.ts";

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

/** `input` must keep its identity while the graph's shape is unchanged: it is laid out again when it changes. */
export function useLayout(input: LayoutInput): LayoutResult {
  const big = input.nodes.length > WORKER_THRESHOLD;
  const initial = useMemo(() => (big ? fastLayout(input) : dagreLayout(input)), [input, big]);
  const [better, setBetter] = useState<{ input: LayoutInput; result: LayoutResult } | undefined>();
  useEffect(() => {
    if (!big) return;
    let live = true;
    void layoutInWorker(input).then((result) => {
      if (live) setBetter({ input, result });
    });
    return () => {
      live = false;
    };
  }, [input, big]);
  return better?.input === input ? better.result : initial;
}
