// The flow-run state machine the server keeps (pure): Scheduled → Pending (claimed) → Starting
// (infrastructure created) → Running → Success | Failed | Crashed, and Cancelling → Cancelled.
// Transitions only go forward; a terminal state is final. The store refuses anything else and
// keeps every accepted transition as an event.

/** The states of a flow run on the server. */
export const RUN_STATES = [
  "Scheduled",
  "Pending",
  "Starting",
  "Running",
  "Cancelling",
  "Success",
  "Failed",
  "Crashed",
  "Cancelled",
] as const;
export type RunStateName = (typeof RUN_STATES)[number];

/** States a run never leaves. */
export const TERMINAL_STATES: readonly RunStateName[] = ["Success", "Failed", "Crashed", "Cancelled"];
/** States of a run that holds (or may hold) infrastructure: they count against concurrency limits. */
export const LIVE_STATES: readonly RunStateName[] = ["Pending", "Starting", "Running", "Cancelling"];

const RANK: Record<RunStateName, number> = {
  Scheduled: 0,
  Pending: 1,
  Starting: 2,
  Running: 3,
  Cancelling: 4,
  Success: 5,
  Failed: 5,
  Crashed: 5,
  Cancelled: 5,
};

export function isTerminal(state: RunStateName): boolean {
  return RANK[state] === 5;
}

export function isRunState(value: string): value is RunStateName {
  return Object.hasOwn(RANK, value);
}

/**
 * The state a reported `to` lands in. A Cancelling run whose runner then reports Failed or Crashed
 * (it was stopped by the cancel) was cancelled, not failed: when an agent holds the run it stays
 * Cancelling until that agent has seen its infrastructure gone and marks it Cancelled; a run no
 * agent holds (reported by `flotilla run --server`) has no other infrastructure, so it ends
 * Cancelled at once.
 */
export function settledState(from: RunStateName, to: RunStateName, heldByAgent: boolean): RunStateName {
  if (from !== "Cancelling" || (to !== "Failed" && to !== "Crashed")) return to;
  return heldByAgent ? "Cancelling" : "Cancelled";
}

/**
 * Why `from → to` is refused, or undefined when it is allowed. Same-state is not a transition
 * (callers treat it as a no-op). Cancelled is reached through Cancelling, except from Scheduled
 * (no agent holds the run, so there is no infrastructure to remove).
 */
export function refuseTransition(from: RunStateName, to: RunStateName): string | undefined {
  if (from === to) return undefined;
  if (isTerminal(from)) return `the run is already ${from}, a final state`;
  if (to === "Cancelled" && from !== "Cancelling" && from !== "Scheduled") {
    return `a ${from} run is cancelled through Cancelling (its agent removes the infrastructure first)`;
  }
  if (RANK[to] <= RANK[from]) return `${from} → ${to} goes backwards`;
  return undefined;
}
