#!/usr/bin/env node
// The `flotilla` command. Flow modules are TypeScript, so the CLI runs with tsx's loader.
import { register } from "tsx/esm/api";

register();
process.__flotillaTsx = true;
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
