// Images: how kube-sim maps an image reference to host executables (ImageSpec, glob-matched), and the
// pull rules — unknown images and private-registry images without a matching pull secret fail to pull.
import { isObject, type KubeObject } from "./objects.ts";

/** How an image's executables run on this machine. */
export interface ImageSpec {
  /** argv prefix used when the container has no `command` (the image ENTRYPOINT), e.g. `[process.execPath, "<checkout>/bin/flotilla.js"]` */
  entrypoint: string[];
  /** maps the first word of a container `command` to a host argv prefix, e.g. `{ "redis-server": ["redis-server"] }` */
  commands?: Record<string, string[]>;
  /** host working directory for the process (the image WORKDIR mapped onto this machine) */
  cwd?: string;
  /** extra env for the process (the image's ENV) */
  env?: Record<string, string>;
}

/** `docker.io/library/redis:7` style parts of an image reference. */
export function imageRegistry(image: string): string {
  const first = image.split("/")[0]!;
  if (image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost"))
    return first;
  return "docker.io";
}

/** Canonical form a real runtime reports, e.g. `docker.io/library/busybox:1`. */
export function canonicalImage(image: string): string {
  let ref = image;
  const registry = imageRegistry(image);
  if (registry === "docker.io" && !image.startsWith("docker.io/"))
    ref = image.includes("/") ? `docker.io/${image}` : `docker.io/library/${image}`;
  const last = ref.split("/").pop()!;
  if (!last.includes(":") && !last.includes("@")) ref += ":latest";
  return ref;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split("*")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
}

/** Exact entries win over globs; among globs the longest pattern wins. */
export function resolveImage(images: Record<string, ImageSpec>, image: string): ImageSpec | undefined {
  if (images[image]) return images[image];
  const globs = Object.keys(images)
    .filter((k) => k.includes("*") && globToRegExp(k).test(image))
    .sort((a, b) => b.length - a.length);
  return globs[0] ? images[globs[0]] : undefined;
}

export type PullResult = { ok: true; spec: ImageSpec } | { ok: false; message: string };

/** Decide a pull the way a registry would answer it. */
export function pullImage(
  images: Record<string, ImageSpec>,
  privateRegistries: string[],
  image: string,
  pullSecrets: KubeObject[],
): PullResult {
  const canonical = canonicalImage(image);
  const registry = imageRegistry(image);
  if (privateRegistries.includes(registry)) {
    const authorized = pullSecrets.some((s) => {
      if (s.type !== "kubernetes.io/dockerconfigjson" || !isObject(s.data)) return false;
      try {
        const cfg = JSON.parse(
          Buffer.from(String(s.data[".dockerconfigjson"] ?? ""), "base64").toString("utf8"),
        );
        const auths = isObject(cfg) && isObject(cfg.auths) ? cfg.auths : {};
        return Object.keys(auths).some(
          (h) => h.replace(/^https?:\/\//, "").replace(/\/.*$/, "") === registry,
        );
      } catch {
        return false;
      }
    });
    if (!authorized) {
      return {
        ok: false,
        message: `failed to pull and unpack image "${canonical}": failed to resolve reference "${canonical}": pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials`,
      };
    }
  }
  const spec = resolveImage(images, image);
  if (!spec) {
    return {
      ok: false,
      message: `failed to pull and unpack image "${canonical}": failed to resolve reference "${canonical}": ${canonical}: not found`,
    };
  }
  return { ok: true, spec };
}
