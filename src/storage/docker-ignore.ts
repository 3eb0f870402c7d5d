// Which project files go into the image: `.dockerignore` then `.flotillaignore` patterns, with
// docker's semantics (the last matching pattern wins, `!` re-includes, `**` spans directories, a
// pattern that matches a directory excludes everything below it). Pure. `node_modules` and `.git`
// are always excluded, whatever the patterns say: the image installs its own dependencies.

/** Names excluded at any depth, before any pattern. */
export const ALWAYS_EXCLUDED = ["node_modules", ".git"] as const;

interface Rule {
  regex: RegExp;
  negate: boolean;
}

/** A compiled set of ignore patterns. */
export class IgnoreRules {
  readonly #rules: Rule[];
  readonly hasNegations: boolean;

  /** @param patterns lines of `.dockerignore` files; blanks and `#` comments are skipped. */
  constructor(patterns: readonly string[]) {
    this.#rules = [];
    for (const raw of patterns) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const negate = line.startsWith("!");
      if (negate) line = line.slice(1).trim();
      line = line.replace(/^\/+/, "").replace(/\/+$/, "");
      if (line === "" || line === ".") continue;
      this.#rules.push({ regex: patternToRegExp(line), negate });
    }
    this.hasNegations = this.#rules.some((r) => r.negate);
  }

  /** True when the project-relative posix path `rel` (file or directory) is excluded. */
  excludes(rel: string): boolean {
    const parts = rel.split("/");
    if (parts.some((p) => (ALWAYS_EXCLUDED as readonly string[]).includes(p))) return true;
    // A pattern matching a parent directory excludes the path too (docker matches parents).
    let excluded = false;
    for (const rule of this.#rules) {
      if (matchesSelfOrParent(rule.regex, parts)) excluded = !rule.negate;
    }
    return excluded;
  }
}

function matchesSelfOrParent(regex: RegExp, parts: string[]): boolean {
  for (let i = parts.length; i > 0; i--) {
    if (regex.test(parts.slice(0, i).join("/"))) return true;
  }
  return false;
}

/** Translate one docker ignore pattern (Go filepath.Match plus `**`) to an anchored RegExp. */
function patternToRegExp(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          out += "(?:.*/)?";
        } else {
          out += ".*";
        }
      } else {
        out += "[^/]*";
      }
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) {
        out += "\\[";
      } else {
        const body = pattern
          .slice(i + 1, end)
          .replace(/^\^|^!/, "^")
          .replace(/\\/g, "\\\\");
        out += `[${body}]`;
        i = end;
      }
    } else if (c === "\\" && i + 1 < pattern.length) {
      i++;
      out += escapeRegExp(pattern[i]!);
    } else {
      out += escapeRegExp(c);
    }
  }
  return new RegExp(`^${out}$`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
