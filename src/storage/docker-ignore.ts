// Which project files go into the image: `.dockerignore` then `.flotillaignore` patterns, matched
// by @balena/dockerignore, which follows Docker's own rules (moby's fileutils: patterns cleaned like
// filepath.Clean, so `./secret.txt` and `a/../b` match what they name; the last matching pattern
// wins; `!` re-includes; `**` spans directories; a pattern matching a directory excludes what is
// below it; `[!a]` is a plain character class, as in Go; case-sensitive). Pure. `node_modules` and
// `.git` are always excluded, whatever the patterns say: the image installs its own dependencies.
import dockerignore, { type Ignore } from "@balena/dockerignore";

// The package's types declare an ES default export; it is CommonJS, and Node's default import of it
// is its module.exports, the factory itself.
const ignore = dockerignore as unknown as (options?: { ignorecase?: boolean }) => Ignore;

/** Names excluded at any depth, before any pattern. */
export const ALWAYS_EXCLUDED = ["node_modules", ".git"] as const;

/** A compiled set of ignore patterns. */
export class IgnoreRules {
  readonly #matcher: Ignore;
  /** Some pattern re-includes (`!`): an excluded directory may still hold included files. */
  readonly hasNegations: boolean;

  /** @param patterns lines of `.dockerignore` files; blanks and `#` comments are skipped. */
  constructor(patterns: readonly string[]) {
    const lines = patterns.map((p) => p.trim()).filter((p) => p !== "" && !p.startsWith("#"));
    this.#matcher = ignore({ ignorecase: false }).add(lines);
    this.hasNegations = lines.some((p) => p.startsWith("!"));
  }

  /** True when the project-relative posix path `rel` (file or directory) is excluded. */
  excludes(rel: string): boolean {
    if (rel.split("/").some((p) => (ALWAYS_EXCLUDED as readonly string[]).includes(p))) return true;
    return this.#matcher.ignores(rel);
  }
}
