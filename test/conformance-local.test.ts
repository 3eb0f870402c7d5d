// The engine conformance suite on LocalExecutor.
import { LocalExecutor } from "../src/executors/local-executor.ts";
import { conformance } from "./conformance.ts";

conformance("LocalExecutor", () => new LocalExecutor());
