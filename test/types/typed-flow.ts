// Type-level test: what a typed flow accepts and returns, checked by tsc (`npm run lint`, and
// test/cli-typed-flows.test.ts under the strict options a user has). Each `@ts-expect-error` line
// must be an error, or tsc fails on the unused directive. Also executed by that test.

import { Flow, task } from "flotilla";
import { z } from "zod";

const extract = task("extract", (records: number) => Array.from({ length: records }, (_, i) => i));
const total = task("total", (xs: number[], label: string) => ({ label, sum: xs.reduce((a, b) => a + b, 0) }));

export const etl = Flow.build("typed-etl", ({ params }) => total(extract(params.records), params.label), {
  params: { records: 10, label: z.string().min(1) },
});

export async function main(): Promise<number> {
  const state = await etl.run({ parameters: { records: 4, label: "four" } });
  if (state.type === "Success" && state.result) {
    const sum: number = state.result.sum; // the result is typed: { label: string; sum: number }
    const label: string = state.result.label;
    // @ts-expect-error the result has no field "rows"
    void state.result.rows;
    void label;
    return sum;
  }
  return -1;
}

export async function mistakes(): Promise<void> {
  // @ts-expect-error "recrods" is not a parameter of the flow
  await etl.run({ parameters: { recrods: 4, label: "x" } });
  // @ts-expect-error records is a number, not a string
  await etl.run({ parameters: { records: "4", label: "x" } });
  // @ts-expect-error label has no default: it is required
  await etl.run({ parameters: { records: 4 } });
  // @ts-expect-error a task's input is typed: extract takes a number
  Flow.build("bad-input", ({ params }) => extract(params.label), { params: { label: "x" } });
}

// A flow declared with param() in its body takes any parameters (checked at run time instead).
export const loose = Flow.build("loose", ({ param }) => extract(param("records", 3)));
export const looseRun = () => loose.run({ parameters: { anything: 1 } });
