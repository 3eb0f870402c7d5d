// The layout worker: dagre off the main thread, so a 1,000-node graph never freezes the page.

import { dagreLayout, type LayoutInput } from "./layout.ts";

self.onmessage = (e: MessageEvent<{ id: number; input: LayoutInput }>) => {
  const result = dagreLayout(e.data.input);
  self.postMessage({ id: e.data.id, result });
};
