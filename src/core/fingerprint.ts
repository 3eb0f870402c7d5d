// The flow fingerprint: a hash of what must be identical in every process of a run (task slugs,
// edges, parameters, and the version of the flow's code). A worker whose fingerprint differs runs
// other code, and must refuse the run's task runs.

import { createHash } from "node:crypto";
import type { Flow } from "./flow.ts";

export function flowFingerprint(flow: Flow): string {
  const shape = {
    flow: flow.name,
    tasks: flow.nodes.map((n) => [n.slug, n.task.taskName, n.inputs.map((b) => b?.kind ?? "-")]),
    edges: flow.edges.map((e) => [e.upstream, e.downstream, e.key ?? "", e.mapped ? 1 : 0]),
    parameters: flow.parameters.map((p) => p.name),
    version: flow.options.version ?? flow.moduleVersion ?? "",
  };
  return createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 16);
}
