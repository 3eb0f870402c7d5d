// The default image table for `flotilla sim` and e2e tests: redis images run the local redis-server,
// anything named like flotilla runs this checkout's CLI under the current Node.
import { fileURLToPath } from "node:url";
import type { ImageSpec } from "./images.ts";

/** `bin/flotilla.js` of this checkout */
export function flotillaBin(): string {
  return fileURLToPath(new URL("../../../bin/flotilla.js", import.meta.url));
}

/**
 * The `--conditions=…` flags a child of this process inherits (those in NODE_OPTIONS): a container
 * runs Flotilla from where a process its creator starts would (dist/, unless NODE_OPTIONS names the
 * `flotilla-source` condition), since the sim does not pass NODE_OPTIONS to containers. Flags on the
 * creator's own command line are its own, as for any child: `npm test` gives the condition to the
 * test files only, and their pods run dist/ as on a real cluster.
 */
function conditionFlags(): string[] {
  const flags = (process.env.NODE_OPTIONS ?? "").split(/\s+/);
  return [...new Set(flags.filter((f) => f.startsWith("--conditions=")))];
}

/**
 * `redis:*` → `redis-server`; `*flotilla*` → `node <checkout>/bin/flotilla.js` with cwd `projectDir`.
 * Commands `flotilla`, `node` and `redis-server` are mapped in both.
 */
export function defaultImages(projectDir: string): Record<string, ImageSpec> {
  const flotilla = [process.execPath, ...conditionFlags(), flotillaBin()];
  const commands = {
    flotilla,
    node: [process.execPath, ...conditionFlags()],
    "redis-server": ["redis-server"],
  };
  return {
    "redis:*": { entrypoint: ["redis-server"], commands, cwd: projectDir },
    "*/redis:*": { entrypoint: ["redis-server"], commands, cwd: projectDir },
    "*flotilla*": { entrypoint: flotilla, commands, cwd: projectDir },
  };
}
