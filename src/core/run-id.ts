// Run ids as users type them: the full id, or a prefix of it such as the 8 characters every log
// line and Job name shows. Pure: given the ids that exist, say which one is meant, or why none is.

import { ErrorCode, FlotillaError } from "./errors.ts";

/**
 * The one id of `ids` that `given` names: itself, or the only id it is a prefix of. Throws a
 * usage error listing the candidates when it names several, and saying so when it names none.
 */
export function resolveRunId(given: string, ids: readonly string[], where = ""): string {
  const wanted = given.trim();
  if (wanted === "") {
    throw new FlotillaError(ErrorCode.Usage, "no run id given", { usage: true });
  }
  const unique = [...new Set(ids)];
  if (unique.includes(wanted)) return wanted;
  const matches = unique.filter((id) => id.startsWith(wanted));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `no run ${wanted}${where}: no run id starts with it (see \`flotilla runs list\`)`,
      { usage: true },
    );
  }
  const shown = matches.slice(0, 5).join(", ");
  throw new FlotillaError(
    ErrorCode.Usage,
    `run id prefix ${wanted} matches ${matches.length} runs${where}: ${shown}${matches.length > 5 ? ", …" : ""}; give more characters`,
    { usage: true },
  );
}
