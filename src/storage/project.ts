// The flow's project: the nearest folder at or above the flow file that holds a package.json.
// DockerStorage packs that folder into the image's WORKDIR, so a flow module's path inside the
// image is its path relative to the project, whatever folder the CLI was started from. Both the
// image build and the Kubernetes launcher use these two functions, so they agree by construction.

import { statSync } from "node:fs";
import path from "node:path";
import { ErrorCode, FlotillaError } from "../core/errors.ts";

/** The nearest directory at or above `file`'s directory holding a package.json, or undefined. */
export function findProjectDir(file: string): string | undefined {
  let dir = path.dirname(path.resolve(file));
  for (;;) {
    try {
      if (statSync(path.join(dir, "package.json")).isFile()) return dir;
    } catch {
      // not here: look one folder up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Where a flow module lives: its project folder and its path inside it (posix, as in the image). */
export interface ModuleInProject {
  /** Absolute: the folder with package.json (the image's WORKDIR holds its files). */
  projectDir: string;
  /** The module relative to `projectDir`, with `/` separators: `examples/seed/flow.ts`. */
  modulePath: string;
}

/**
 * The flow module's path as the image holds it. Throws FLOTILLA_MODULE_NOT_FOUND when the file is
 * in no npm project (no package.json in its folder or above), naming the file and the fix.
 */
export function moduleInProject(file: string, display: string = file): ModuleInProject {
  const projectDir = findProjectDir(file);
  if (projectDir === undefined) {
    throw new FlotillaError(
      ErrorCode.ModuleNotFound,
      `flow file ${display} is outside any npm project: no package.json in its folder or above it`,
      {
        hint: "the image holds the flow's project (the folder with package.json) and the runner loads the flow from there: move the flow file into your project, or run `npm init -y && npm install flotilla` in its folder",
        usage: true,
      },
    );
  }
  const modulePath = path.relative(projectDir, path.resolve(file)).split(path.sep).join("/");
  return { projectDir, modulePath };
}
