// Types for system-packages.mjs (plain JavaScript so that `npm test` runs it before any build).

/** One system program the test suite needs. */
export interface Requirement {
  /** The env variable `npm test` exports its path in, e.g. FLOTILLA_TEST_PG_BIN. */
  env: string;
  /** What it is, for messages. */
  what: string;
  /** The Debian package that provides it. */
  debian: string;
  /** The service the Debian package starts on install, if any. */
  service?: string;
  /** Its path on this machine (a directory for PostgreSQL), or undefined. */
  find(): string | undefined;
}

export declare const requirements: Requirement[];
export declare function which(name: string): string | undefined;
export declare function findSystemPackages(): { found: Record<string, string>; missing: Requirement[] };
