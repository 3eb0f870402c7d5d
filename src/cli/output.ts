// `-o/--output`: one option, one meaning on every command. `table` is for people (the default),
// `json` and `yaml` are the same document for scripts, `wide` (a table with more columns) and
// `name` (one id a line) exist where a list is printed. A format a command does not support is a
// usage error naming the ones it does.

import { Option } from "commander";
import { ErrorCode, FlotillaError } from "../core/errors.ts";

/** Every output format a command may offer. */
export const OutputFormat = ["table", "json", "yaml", "wide", "name"] as const;
export type OutputFormat = (typeof OutputFormat)[number];

/** The formats of a command that prints one document. */
export const DOCUMENT_FORMATS = ["table", "json", "yaml"] as const satisfies readonly OutputFormat[];
/** The formats of the commands that print a Flotilla server's records (a table, or the API's record as JSON or YAML). */
export const SERVER_FORMATS = DOCUMENT_FORMATS;
/** The formats of a log stream: readable lines, or one JSON object a line (no YAML: a stream is not one document). */
export const LOG_FORMATS = ["table", "json"] as const satisfies readonly OutputFormat[];
/** The formats of a command that prints a list. */
export const LIST_FORMATS = OutputFormat;

/** The `-o, --output <format>` option, limited to `formats`; `fallback` is the default. */
export function outputOption(
  formats: readonly OutputFormat[] = DOCUMENT_FORMATS,
  fallback: OutputFormat = formats[0] ?? "table",
): Option {
  return new Option("-o, --output <format>", `output format: ${formats.join(", ")}`)
    .choices(formats)
    .default(fallback);
}

/** Check a format given in code (not through commander) against the formats a command supports. */
export function checkOutput<F extends OutputFormat>(value: unknown, formats: readonly F[], where: string): F {
  if (typeof value === "string" && (formats as readonly string[]).includes(value)) return value as F;
  throw new FlotillaError(
    ErrorCode.Usage,
    `${where}: -o ${String(value)} is not an output format here; use one of ${formats.join(", ")}`,
    { usage: true },
  );
}

/** A document as JSON or YAML text (ending in a newline). YAML is loaded only when asked for. */
export async function renderDocument(doc: unknown, format: "json" | "yaml"): Promise<string> {
  if (format === "json") return `${JSON.stringify(doc, null, 2)}\n`;
  const { stringify } = await import("yaml");
  return stringify(doc);
}

/**
 * What a command prints for `-o`: `doc` as JSON or YAML (renderDocument, the printer of every
 * command), else the readable text `readable()` makes.
 */
export async function renderOutput(
  format: string | undefined,
  doc: unknown,
  readable: () => string,
): Promise<string> {
  return format === "json" || format === "yaml" ? renderDocument(doc, format) : readable();
}

/** Rows as aligned columns: two spaces between columns, no trailing blanks. */
export function renderColumns(
  rows: readonly (readonly string[])[],
  paint?: (row: number, col: number, text: string) => string,
): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  return rows
    .map((r, ri) =>
      r
        .map((c, i) => {
          const padded = i === r.length - 1 ? c : c.padEnd(widths[i]!);
          if (!paint) return padded;
          // colour the text, not the padding, so columns stay aligned
          return paint(ri, i, c) + padded.slice(c.length);
        })
        .join("  ")
        .trimEnd(),
    )
    .map((l) => `${l}\n`)
    .join("");
}
