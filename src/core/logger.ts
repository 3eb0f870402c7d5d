// The Logger type every layer logs through: a pino logger. Only the type lives in the model;
// src/engine/logging.ts makes loggers (scrubbed lines, JSON or a compact format).

import type { Logger as PinoLogger } from "pino";

/** A pino logger; every line it writes goes through the secret scrubber. */
export type Logger = PinoLogger;
