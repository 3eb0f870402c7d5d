// `flotilla describe` on the seed's two examples: the graph the seed drew with set_upstream + bind.
import assert from "node:assert/strict";
import { it, describe as suite } from "node:test";
import { describe } from "../src/cli/commands/describe.ts";
import { within } from "./helpers/deadline.ts";

suite("flotilla describe on the seed examples", { timeout: 120_000 }, () => {
  it("min/max example: get-value feeds output-value's `value`, on Kubernetes", async () => {
    const text = await within(
      describe({ flowFile: "examples/seed-min-max/flow.ts" }),
      60_000,
      "describe examples/seed-min-max/flow.ts",
    );
    assert.match(text, /^Flow "Min \/ Max Workers Kubernetes Example" {2}\(fingerprint [0-9a-f]{16}\)$/m);
    assert.match(text, /^ {2}environment: kubernetes/m);
    assert.match(text, /^ {4}get-value$/m);
    assert.match(text, /^ {4}output-value {2}value <- get-value {2}\[reference\]$/m);
    const mermaid = await within(
      describe({ flowFile: "examples/seed-min-max/flow.ts", format: "mermaid" }),
      60_000,
      "describe examples/seed-min-max/flow.ts",
    );
    assert.equal(
      mermaid,
      'flowchart TD\n  t_get_value["get-value"]\n  t_output_value["output-value"]\n  t_get_value -->|value| t_output_value\n',
    );
  });

  it("custom worker example: same graph, with the storage image", async () => {
    const json = JSON.parse(
      await within(
        describe({ flowFile: "examples/seed-custom-worker/flow.ts", format: "json" }),
        60_000,
        "describe examples/seed-custom-worker/flow.ts",
      ),
    );
    assert.equal(json.storage, "gcr.io/dev/dask-k8s-flow:0.1.0");
    assert.equal(json.environment, "kubernetes");
    assert.deepEqual(json.edges, [
      { upstream: "get-value", downstream: "output-value", key: "value", mapped: false },
    ]);
    const dot = await within(
      describe({ flowFile: "examples/seed-custom-worker/flow.ts", format: "dot" }),
      60_000,
      "describe examples/seed-custom-worker/flow.ts",
    );
    assert.match(dot, /"get-value" -> "output-value" \[label="value"\];/);
  });
});
