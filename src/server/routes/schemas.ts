// The request schemas more than one resource of the API uses: a run or agent id in the path, a
// deployment name, a run state, a JSON object of parameters, and the flow a client registers.

import { z } from "zod";
import { RUN_STATES } from "../../store/run-state.ts";

/** `:id` in a path (a run, schedule or agent id). */
export const runId = z.object({ id: z.string().min(1).max(100) });
/** `:name` in a path (a deployment). */
export const name = z.object({ name: z.string().min(1).max(200) });
export const stateName = z.enum(RUN_STATES);
export const json = z.record(z.string(), z.unknown());

/** A flow as `flotilla deploy` and `flotilla run --server` register it. */
export const flowBody = z.object({
  name: z.string().min(1),
  fingerprint: z.string().min(1),
  image: z.string().optional(),
  module: z.string().optional(),
  dag: z.unknown(),
  parameterSchema: z.array(
    z.object({
      name: z.string(),
      required: z.boolean(),
      default: z.unknown().optional(),
      description: z.string().optional(),
    }),
  ),
});
