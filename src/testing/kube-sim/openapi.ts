// Just enough OpenAPI for kubectl: /openapi/v3 lists a document per group version, and each document
// has the PATCH operations tagged with x-kubernetes-group-version-kind and the `fieldValidation` query
// parameter, which is how kubectl decides to use server-side field validation. No schemas are served.
import { apiVersionOf, groupVersions, RESOURCES } from "./resources.ts";

const HASH = "kube-sim-1";

function docPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiV3Root(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const { group, version } of groupVersions()) {
    const p = docPath(group, version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${HASH}` };
  }
  return { paths };
}

const QUERY_PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"].map((name) => ({
  name,
  in: "query",
  schema: { type: name === "force" ? "boolean" : "string" },
  uniqueItems: true,
}));

export function openApiV3Document(path: string): Record<string, unknown> | undefined {
  const gv = groupVersions().find((g) => docPath(g.group, g.version) === path);
  if (!gv) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of RESOURCES.filter((x) => x.group === gv.group && x.version === gv.version && !x.virtual)) {
    const base = `/${docPath(r.group, r.version)}${r.namespaced ? "/namespaces/{namespace}" : ""}/${r.resource}/{name}`;
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    paths[base] = {
      patch: {
        operationId: `patch${r.kind}`,
        parameters: QUERY_PARAMS,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": gvk,
        responses: { "200": { description: "OK" } },
      },
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.4" },
    paths,
    components: { schemas: {} },
  };
}

/** OpenAPI v2 in JSON, with paths only; kubectl asks for protobuf and falls back gracefully. */
export function openApiV2(): Record<string, unknown> {
  return {
    swagger: "2.0",
    info: { title: "Kubernetes", version: "v1.32.4" },
    paths: Object.fromEntries(
      RESOURCES.map((r) => [
        `/${docPath(r.group, r.version)}/${r.resource}`,
        {
          get: {
            operationId: `list${r.kind}`,
            "x-kubernetes-group-version-kind": { group: r.group, version: r.version, kind: r.kind },
          },
        },
      ]),
    ),
    definitions: {},
    "x-kube-sim-api-versions": RESOURCES.map(apiVersionOf),
  };
}
