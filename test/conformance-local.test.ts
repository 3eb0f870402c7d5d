// The engine conformance suite on LocalExecutor.
import { LocalExecutor } from "../src/executors/local.ts";
import { conformance } from "./conformance.ts";

conformance("LocalExecutor", () => new LocalExecutor());
