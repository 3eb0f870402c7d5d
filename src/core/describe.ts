// Describing a flow without running it: text for people, Mermaid and DOT for diagrams, JSON for
// tools. Pure: reads the flow graph only.

import { flowFingerprint } from "./fingerprint.ts";
import type { Flow, FlowNode } from "./flow.ts";

export const DescribeFormat = ["text", "mermaid", "dot", "json"] as const;
export type DescribeFormat = (typeof DescribeFormat)[number];

export interface FlowDescription {
  name: string;
  fingerprint: string;
  environment: string;
  storage: string | null;
  parameters: { name: string; required: boolean; default?: unknown; description?: string }[];
  tasks: {
    slug: string;
    task: string;
    mapped: boolean;
    upstream: string[];
    retries: number;
    retryDelayMs: number;
    timeoutMs: number | null;
    trigger: string;
    reference: boolean;
  }[];
  edges: { upstream: string; downstream: string; key?: string; mapped: boolean }[];
  /** Parameters passed to task inputs. */
  parameterInputs: { parameter: string; task: string; key: string; mapped: boolean }[];
}

/** The flow as data: parameters, tasks, edges (what `describe -o json` prints and deploy registers). */
export function describeFlow(flow: Flow): FlowDescription {
  const reference = new Set(flow.referenceTasks);
  return {
    name: flow.name,
    fingerprint: flowFingerprint(flow),
    environment: flow.environment?.kind ?? "local",
    storage: flow.storage?.imageRef?.() ?? flow.storage?.kind ?? null,
    parameters: flow.parameters.map((p) => ({
      name: p.name,
      required: p.required,
      ...(p.hasDefault ? { default: p.default } : {}),
      ...(p.description ? { description: p.description } : {}),
    })),
    tasks: flow.sorted().map((n) => ({
      slug: n.slug,
      task: n.task.taskName,
      mapped: isMapped(n),
      upstream: [...n.upstream].map((u) => u.slug),
      retries: n.task.options.retries,
      retryDelayMs: n.task.options.retryDelayMs,
      timeoutMs: n.task.options.timeoutMs ?? null,
      trigger: n.task.options.trigger,
      reference: reference.has(n),
    })),
    edges: flow.edges.map((e) => ({ ...e })),
    parameterInputs: flow.nodes.flatMap((n) =>
      n.inputs.flatMap((b, i) =>
        b?.kind === "param"
          ? [{ parameter: b.name, task: n.slug, key: n.task.paramNames[i] ?? String(i), mapped: b.mapped }]
          : [],
      ),
    ),
  };
}

function isMapped(n: FlowNode): boolean {
  return n.inputs.some((b) => b?.mapped === true);
}

export function renderDescription(flow: Flow, format: DescribeFormat): string {
  const d = describeFlow(flow);
  switch (format) {
    case "json":
      return `${JSON.stringify(d, null, 2)}\n`;
    case "mermaid":
      return mermaid(d);
    case "dot":
      return dot(d);
    case "text":
      return text(d);
  }
}

function text(d: FlowDescription): string {
  const lines = [`Flow "${d.name}"  (fingerprint ${d.fingerprint})`, `  environment: ${d.environment}`];
  if (d.storage) lines.push(`  storage: ${d.storage}`);
  if (d.parameters.length) {
    lines.push("  parameters:");
    for (const p of d.parameters) {
      const dflt = "default" in p ? ` = ${JSON.stringify(p.default)}` : p.required ? " (required)" : "";
      lines.push(`    ${p.name}${dflt}${p.description ? `  ${p.description}` : ""}`);
    }
  }
  lines.push(`  tasks (${d.tasks.length}, in run order):`);
  for (const t of d.tasks) {
    const ins = [
      ...d.parameterInputs
        .filter((p) => p.task === t.slug)
        .map((p) => `${p.key}${p.mapped ? "[]" : ""} <- param ${p.parameter}`),
      ...d.edges
        .filter((e) => e.downstream === t.slug)
        .map((e) => (e.key ? `${e.key}${e.mapped ? "[]" : ""} <- ${e.upstream}` : `after ${e.upstream}`)),
    ];
    const opts = [
      t.mapped ? "mapped" : "",
      t.retries ? `retries ${t.retries}${t.retryDelayMs ? ` every ${t.retryDelayMs} ms` : ""}` : "",
      t.timeoutMs ? `timeout ${t.timeoutMs} ms` : "",
      t.trigger !== "allSuccessful" ? `trigger ${t.trigger}` : "",
      t.reference ? "reference" : "",
    ].filter(Boolean);
    lines.push(
      `    ${t.slug}${t.task !== t.slug ? ` (${t.task})` : ""}${ins.length ? `  ${ins.join(", ")}` : ""}${opts.length ? `  [${opts.join(", ")}]` : ""}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

const id = (slug: string) => `t_${slug.replace(/[^A-Za-z0-9_]/g, "_")}`;

function mermaid(d: FlowDescription): string {
  const lines = ["flowchart TD"];
  for (const p of d.parameters) lines.push(`  p_${p.name.replace(/\W/g, "_")}[/"${p.name}"/]`);
  for (const t of d.tasks) lines.push(`  ${id(t.slug)}${t.mapped ? `[["${t.slug}"]]` : `["${t.slug}"]`}`);
  for (const p of d.parameterInputs) {
    lines.push(
      `  p_${p.parameter.replace(/\W/g, "_")} -->|${p.mapped ? `map ${p.key}` : p.key}| ${id(p.task)}`,
    );
  }
  for (const e of d.edges) {
    const label = e.key ? `|${e.mapped ? `map ${e.key}` : e.key}|` : "";
    lines.push(`  ${id(e.upstream)} ${e.key ? "-->" : "-.->"}${label} ${id(e.downstream)}`);
  }
  return `${lines.join("\n")}\n`;
}

function dot(d: FlowDescription): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [`digraph ${q(d.name)} {`, "  rankdir=TB;", "  node [shape=box];"];
  for (const p of d.parameters)
    lines.push(`  ${q(`param:${p.name}`)} [shape=parallelogram, label=${q(p.name)}];`);
  for (const t of d.tasks) lines.push(`  ${q(t.slug)}${t.mapped ? " [peripheries=2]" : ""};`);
  for (const p of d.parameterInputs) {
    lines.push(
      `  ${q(`param:${p.parameter}`)} -> ${q(p.task)} [label=${q(p.mapped ? `map ${p.key}` : p.key)}];`,
    );
  }
  for (const e of d.edges) {
    const attrs = [e.key ? `label=${q(e.mapped ? `map ${e.key}` : e.key)}` : "style=dashed"];
    lines.push(`  ${q(e.upstream)} -> ${q(e.downstream)} [${attrs.join(", ")}];`);
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}
