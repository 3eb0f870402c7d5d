// Image references (`registry/path/name:tag@digest`) by the OCI distribution reference grammar
// (github.com/distribution/reference, `regexp.go`). Pure. Each check returns a reason string or
// undefined, so the options schema can name the field and the rule that failed.

/** A DNS-style registry host with an optional port, `localhost`, or a bracketed IPv6 address. */
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`,
);
/** One lowercase path component: `dask-k8s-flow`, `dev`, `my_team`. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;
/** The longest repository name (registry and path, without tag) the grammar allows. */
export const MAX_NAME_LENGTH = 255;

/** A registry URL split into the host (if any) and the repository path prefix under it. */
export interface RegistryLocation {
  /** `gcr.io`, `localhost:5000`; undefined for Docker Hub namespaces like `myuser`. */
  host: string | undefined;
  /** Path components under the host: `["dev"]` for `gcr.io/dev/`. */
  path: string[];
  /** The normalised prefix, no trailing slash: `gcr.io/dev`. */
  prefix: string;
}

/**
 * Parse `registryUrl` the way docker does: the first component is a host when it contains `.` or
 * `:` or is `localhost`, else it is a Docker Hub namespace. Trailing slashes are dropped.
 */
export function parseRegistryUrl(url: string): RegistryLocation | string {
  if (/^[a-z]+:\/\//i.test(url))
    return "must not include a scheme (write gcr.io/dev, not https://gcr.io/dev)";
  const trimmed = url.replace(/\/+$/, "");
  if (trimmed === "") return "must not be empty";
  const parts = trimmed.split("/");
  const first = parts[0]!;
  const isHost = first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[");
  let host: string | undefined;
  if (isHost) {
    if (!DOMAIN.test(first))
      return `"${first}" is not a valid registry host (expected host[:port], e.g. gcr.io)`;
    host = first;
    parts.shift();
  }
  for (const part of parts) {
    const reason = pathComponentProblem(part);
    if (reason !== undefined) return reason;
  }
  return { host, path: parts, prefix: trimmed };
}

/** Why `name` (e.g. `team/dask-k8s-flow`) is not a valid image name, or undefined. */
export function imageNameProblem(name: string): string | undefined {
  if (name === "") return "must not be empty";
  if (name.includes(":") || name.includes("@")) return "must not contain a tag or digest; use imageTag";
  for (const part of name.split("/")) {
    const reason = pathComponentProblem(part);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

function pathComponentProblem(part: string): string | undefined {
  if (part === "") return "has an empty path component (two slashes in a row?)";
  if (PATH_COMPONENT.test(part)) return undefined;
  if (PATH_COMPONENT.test(part.toLowerCase()))
    return `"${part}" must be lowercase (try "${part.toLowerCase()}")`;
  return `"${part}" is not a valid path component: use lowercase letters, digits, and single '.', '_', '__' or '-' between them`;
}

/** Why `tag` is not a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), or undefined. */
export function tagProblem(tag: string): string | undefined {
  if (TAG.test(tag)) return undefined;
  if (tag.length > 128) return "is longer than 128 characters";
  return "must start with a letter, digit or '_' and contain only letters, digits, '_', '.' and '-'";
}

/** Why `ref` (a full reference such as `node:20-bookworm-slim` or `x@sha256:...`) is invalid, or undefined. */
export function imageReferenceProblem(ref: string): string | undefined {
  let rest = ref;
  const at = rest.indexOf("@");
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return `has an invalid digest "${rest.slice(at + 1)}"`;
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    const reason = tagProblem(rest.slice(colon + 1));
    if (reason !== undefined) return `tag ${reason}`;
    rest = rest.slice(0, colon);
  }
  const parts = rest.split("/");
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    if (!DOMAIN.test(first)) return `"${first}" is not a valid registry host`;
    parts.shift();
  }
  if (rest.length > MAX_NAME_LENGTH) return `name is longer than ${MAX_NAME_LENGTH} characters`;
  return imageNameProblem(parts.join("/"));
}

/** `prefix/name:tag`, or `name:tag` without a registry. */
export function joinImageRef(registryPrefix: string | undefined, name: string, tag: string): string {
  return `${registryPrefix ? `${registryPrefix}/` : ""}${name}:${tag}`;
}
