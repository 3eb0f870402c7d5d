// Custom scheduler/worker spec files: loaded and validated when the environment is constructed,
// so a bad file fails on the developer's machine, not in the cluster. Every error names the file,
// the line:column and the field. The scheduler spec must be a `batch/v1` Job, the worker spec a
// `v1` Pod (a missing apiVersion is accepted when the kind matches: the seed's example omits it).
// Unknown fields are errors (client-node would drop them silently). The parsed objects stay in
// memory, plain and unmodified; the seed's worker `spec.replicas` is split off here.

import { readFileSync } from "node:fs";
// one default import of node:module, not `createRequire`: a bundle's banner may declare that name
import nodeModule from "node:module";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as BatchV1 from "kubernetes-models/batch/v1";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type * as CoreV1 from "kubernetes-models/v1";
import type { IPod } from "kubernetes-models/v1/Pod";
import type * as Yaml from "yaml";
import type { Document, LineCounter } from "yaml";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { formatPath, unknownFields } from "./unknown-fields.ts";

// yaml and kubernetes-models (both CommonJS) are required when a spec file is loaded, not when
// this module is: a flow without spec files, and every runner and worker pod that loads the flow,
// never reads them (their import was ~0.45 s of CPU of each process's start-up)
const load = nodeModule.createRequire(import.meta.url);
const yaml = () => load("yaml") as typeof Yaml;
const Pod = () => (load("kubernetes-models/v1") as typeof CoreV1).Pod;
const Job = () => (load("kubernetes-models/batch/v1") as typeof BatchV1).Job;

/** A loaded worker spec: the Pod (without `spec.replicas`) and the initial worker count it asked for. */
export interface WorkerSpec {
  readonly file: string;
  readonly pod: IPod;
  /** The seed's `spec.replicas`: the initial number of workers. */
  readonly replicas: number | undefined;
}

/** A loaded scheduler spec: the Job the runner Job is built from. */
export interface SchedulerSpec {
  readonly file: string;
  readonly job: IJob;
}

interface KindRule {
  kind: string;
  apiVersion: string;
  model: string;
  /** Fields not in the schema that Flotilla reads itself. */
  extraFields: string[];
}

const POD: KindRule = { kind: "Pod", apiVersion: "v1", model: "V1Pod", extraFields: ["spec.replicas"] };
const JOB: KindRule = { kind: "Job", apiVersion: "batch/v1", model: "V1Job", extraFields: [] };

/**
 * Resolve a spec file path: a `URL` (e.g. `new URL("./w.yaml", import.meta.url)`) as is, an
 * absolute path as is, a relative path against `baseDir` (the flow file's directory).
 */
export function resolveSpecPath(file: string | URL, baseDir: string): string {
  if (file instanceof URL) return fileURLToPath(file);
  if (file.startsWith("file:")) return fileURLToPath(file);
  return isAbsolute(file) ? file : resolve(baseDir, file);
}

/**
 * The directory of the module that called into this package: the first stack frame outside
 * src/kubernetes (dist/kubernetes when compiled). Falls back to the working directory when the stack says nothing useful.
 */
export function callerDirectory(stack: string | undefined = new Error().stack): string {
  for (const line of (stack ?? "").split("\n").slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):\d+:\d+\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const file = m[1]!.startsWith("file:") ? fileURLToPath(m[1]!) : m[1]!;
    if (/[\\/](?:src|dist)[\\/]kubernetes[\\/]/.test(file) || file.includes(`${"/"}node_modules/`)) continue;
    if (file.startsWith("node:")) continue;
    return dirname(file);
  }
  return process.cwd();
}

/** Load and validate a worker spec file (a `v1` Pod). */
export function loadWorkerSpec(path: string, displayName = path): WorkerSpec {
  const { value } = loadSpec(path, displayName, POD, (obj) => new (Pod())(obj as never).validate());
  const pod = value as unknown as IPod & { spec?: { replicas?: unknown } };
  let replicas: number | undefined;
  const spec = pod.spec as Record<string, unknown> | undefined;
  if (spec && "replicas" in spec) {
    const r = spec.replicas;
    if (typeof r !== "number" || !Number.isInteger(r) || r < 0) {
      throw specError(
        displayName,
        undefined,
        "spec.replicas",
        `must be a non-negative integer, got ${JSON.stringify(r)}`,
      );
    }
    replicas = r;
    delete spec.replicas;
  }
  return { file: displayName, pod, replicas };
}

/** Load and validate a scheduler spec file (a `batch/v1` Job). */
export function loadSchedulerSpec(path: string, displayName = path): SchedulerSpec {
  const { value } = loadSpec(path, displayName, JOB, (obj) => new (Job())(obj as never).validate());
  return { file: displayName, job: value as unknown as IJob };
}

/** Parse YAML text of one object and check it against `rule` (exported for tests). */
export function parseSpec(
  text: string,
  displayName: string,
  rule: KindRule,
  validate: (obj: Record<string, unknown>) => void,
): { value: Record<string, unknown> } {
  const { LineCounter, parseAllDocuments } = yaml();
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true });
  const list = Array.isArray(docs) ? docs.filter((d) => d.contents !== null || d.errors.length > 0) : [];
  for (const d of list) {
    const err = d.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const where = pos ? `${displayName}:${pos.line}:${pos.col}` : displayName;
      throw new FlotillaError(
        ErrorCode.SpecInvalid,
        `${where}: invalid YAML: ${err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`,
        {
          hint: "fix the YAML syntax at that line",
        },
      );
    }
  }
  if (list.length !== 1) {
    throw new FlotillaError(
      ErrorCode.SpecInvalid,
      `${displayName}: expected exactly one YAML document, found ${list.length}`,
      {
        hint: `put one ${rule.kind} in the file`,
      },
    );
  }
  const doc = list[0]!;
  const value = doc.toJS() as unknown;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FlotillaError(
      ErrorCode.SpecInvalid,
      `${displayName}: expected a ${rule.kind} object, found ${typeof value}`,
    );
  }
  const obj = value as Record<string, unknown>;
  const at = (path: (string | number)[]) => position(doc, lineCounter, displayName, path);
  if (obj.kind !== rule.kind) {
    throw specError(
      displayName,
      at(["kind"]),
      "kind",
      `must be "${rule.kind}" (apiVersion ${rule.apiVersion}), got ${obj.kind === undefined ? "nothing" : JSON.stringify(obj.kind)}`,
    );
  }
  if (obj.apiVersion === undefined) obj.apiVersion = rule.apiVersion;
  else if (obj.apiVersion !== rule.apiVersion) {
    throw specError(
      displayName,
      at(["apiVersion"]),
      "apiVersion",
      `must be "${rule.apiVersion}" for a ${rule.kind}, got ${JSON.stringify(obj.apiVersion)}`,
    );
  }
  const unknown = unknownFields(obj, rule.model, rule.extraFields);
  if (unknown.length > 0) {
    const lines = unknown.map((p) => `  ${at(p)}: unknown field "${formatPath(p)}"`);
    throw new FlotillaError(
      ErrorCode.SpecInvalid,
      `${displayName}: ${unknown.length} unknown field(s) in the ${rule.kind} spec\n${lines.join("\n")}`,
      {
        hint: "check the spelling against the Kubernetes API reference (kubectl explain); Kubernetes would drop or reject these fields",
      },
    );
  }
  const schemaCopy = structuredClone(obj);
  for (const extra of rule.extraFields) deletePath(schemaCopy, extra.split("."));
  try {
    validate(schemaCopy);
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (!Array.isArray(errors)) throw e;
    const lines = bestErrors(errors).map((err) => {
      const path = pointerToPath(err.instancePath);
      const missing =
        typeof err.params?.missingProperty === "string" ? err.params.missingProperty : undefined;
      const field = formatPath(missing ? [...path, missing] : path) || "(root)";
      return `  ${at(path)}: ${field} ${describe(err)}`;
    });
    throw new FlotillaError(
      ErrorCode.SpecInvalid,
      `${displayName}: the ${rule.kind} spec does not match the Kubernetes schema\n${lines.join("\n")}`,
      {
        hint: "fix the fields above (kubectl explain shows each field's type)",
      },
    );
  }
  return { value: obj };
}

function loadSpec(
  path: string,
  displayName: string,
  rule: KindRule,
  validate: (obj: Record<string, unknown>) => void,
) {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FlotillaError(
      ErrorCode.SpecInvalid,
      `${displayName}: cannot read the ${rule.kind} spec file (${code ?? String(e)})`,
      {
        hint: "a relative spec path is resolved against the flow file's directory; pass new URL('./file.yaml', import.meta.url) to be explicit",
        cause: e,
      },
    );
  }
  return parseSpec(text, displayName, rule, validate);
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: Record<string, unknown>;
}

const KEYWORD_RANK: Record<string, number> = {
  required: 0,
  enum: 1,
  format: 2,
  pattern: 3,
  type: 4,
  oneOf: 9,
  anyOf: 9,
};

/** One error per field, the most telling one (a bad quantity reports format, not oneOf/type). */
function bestErrors(errors: AjvError[]): AjvError[] {
  const by = new Map<string, AjvError>();
  for (const e of errors) {
    const key =
      e.instancePath + (typeof e.params?.missingProperty === "string" ? `/${e.params.missingProperty}` : "");
    const prev = by.get(key);
    if (!prev || (KEYWORD_RANK[e.keyword] ?? 5) < (KEYWORD_RANK[prev.keyword] ?? 5)) by.set(key, e);
  }
  return [...by.values()];
}

function describe(err: AjvError): string {
  if (err.keyword === "enum" && Array.isArray(err.params?.allowedValues)) {
    return `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
  }
  if (err.keyword === "required") return "is required";
  return err.message ?? err.keyword;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function position(doc: Document, lc: LineCounter, file: string, path: (string | number)[]): string {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const node = (sub.length === 0 ? doc.contents : doc.getIn(sub, true)) as
      | { range?: [number, number, number] }
      | undefined;
    // a map key's own position is better than its value's for unknown fields
    const key = n === path.length && n > 0 ? keyNode(doc, sub) : undefined;
    const range = key?.range ?? node?.range;
    if (range) {
      const { line, col } = lc.linePos(range[0]);
      return `${file}:${line}:${col}`;
    }
  }
  return file;
}

function keyNode(doc: Document, path: (string | number)[]): { range?: [number, number, number] } | undefined {
  const parent = (path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true)) as
    | { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] }
    | undefined;
  const last = path[path.length - 1];
  const pair = parent?.items?.find((p) => p.key && typeof p.key === "object" && p.key.value === last);
  return pair?.key;
}

function deletePath(obj: Record<string, unknown>, path: string[]): void {
  let cur: unknown = obj;
  for (const p of path.slice(0, -1)) {
    cur = (cur as Record<string, unknown> | undefined)?.[p];
    if (typeof cur !== "object" || cur === null) return;
  }
  delete (cur as Record<string, unknown>)[path[path.length - 1]!];
}

function specError(file: string, where: string | undefined, field: string, problem: string): FlotillaError {
  return new FlotillaError(ErrorCode.SpecInvalid, `${where ?? file}: ${field} ${problem}`, {
    hint: `fix "${field}" in ${file}`,
  });
}

export { JOB as SCHEDULER_SPEC_RULE, POD as WORKER_SPEC_RULE };
