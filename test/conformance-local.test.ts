// The engine conformance suite on LocalExecutor.
import { describe } from "node:test";
import { LocalExecutor } from "../src/executors/local-executor.ts";
import { conformance } from "./conformance.ts";

describe("LocalExecutor", { timeout: 300_000 }, () =>
  conformance("LocalExecutor", () => new LocalExecutor()),
);
