// The CLI's flag parsers, one set for every command: each turns a flag's text into its value or
// throws a usage error (exit 2) naming the flag, what it got and what it expects.

import type { z } from "zod";
import { ErrorCode, FlotillaError } from "../core/errors.ts";

function usage(message: string): FlotillaError {
  return new FlotillaError(ErrorCode.Usage, message, { usage: true });
}

/** A whole number >= 1 (`--concurrency 4`); `flag` names it in the error. */
export function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < 1) {
    throw usage(`${flag} ${text}: expected a whole number >= 1`);
  }
  return n;
}

/** A commander parser for a whole number >= 1. */
export const positiveIntFlag =
  (flag: string) =>
  (text: string): number =>
    positiveInt(flag, text);

/** An environment variable holding a whole number >= 1, or undefined when unset or empty. */
export function positiveIntFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usage(`${name}=${v}: expected a whole number >= 1`);
  return n;
}

/** A commander parser checking a number against its zod field (the library's own rule). */
export function numberFlag(flag: string, field: z.ZodNumber) {
  return (text: string): number => {
    const parsed = field.safeParse(Number(text));
    if (!parsed.success) throw usage(`${flag} ${text}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    return parsed.data;
  };
}

/** `--workers MIN:MAX` or `N` (a fixed size). */
export function parseWorkers(value: string): { minWorkers: number; maxWorkers: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(value.trim());
  const min = m ? Number(m[1]) : Number.NaN;
  const max = m ? Number(m[2] ?? m[1]) : Number.NaN;
  if (!m || max < 1 || min > max) {
    throw usage(
      `--workers ${value}: expected MIN:MAX with 0 <= MIN <= MAX and MAX >= 1 (e.g. 1:4), or N for a fixed size`,
    );
  }
  return { minWorkers: min, maxWorkers: max };
}

/** A repeatable flag's values, in order (`--param a=1 --param b=2`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * The Flotilla server's URL as runner pods reach it: --report-url, else FLOTILLA_REPORT_URL (an
 * http(s) URL, or an error naming where it came from); undefined when neither is set.
 */
export function reportUrlOf(
  options: { reportUrl?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const raw = options.reportUrl ?? (env.FLOTILLA_REPORT_URL || undefined);
  if (raw === undefined) return undefined;
  const where = options.reportUrl !== undefined ? "--report-url" : "FLOTILLA_REPORT_URL";
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new FlotillaError(ErrorCode.Usage, `${where} ${raw}: not an http(s) URL`, {
      hint: "give the Flotilla server's URL as the runner pods reach it, e.g. http://flotilla-server.flotilla.svc:4200",
      usage: true,
    });
  }
  return raw.replace(/\/+$/, "");
}
