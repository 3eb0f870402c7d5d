// A run's task runs in brief: what the dashboard paints a run's graph from without reading every
// task run. Per mapped task: its children by state, first start and last end, and each child's
// state as one character (its place in STATE_DIGITS names the state in the answer's `codes`),
// so a 10,000-way map is a 10 kB string a live update can be applied to, not 10,000 objects.

/** One mapped task of a run in brief (see Store.taskRunSummary). */
export interface TaskBrief {
  slug: string;
  /** Its children (map index ≥ 0) by state. */
  counts: Record<string, number>;
  /** How many children it has. */
  total: number;
  /** The first start and last end among its children. */
  startedAt?: number;
  endedAt?: number;
  /** Child `i`'s state is `codes[STATE_DIGITS.indexOf(states[i])]`; `-` where no child `i` is known. */
  states: string;
}

/** The characters a child's state is written with in {@link TaskBrief.states}, in order. */
export const STATE_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/**
 * The states string of a task whose map indexes have gaps: `joined` holds one character a child,
 * in the order of `mapIndexes` (ascending); the result has child `i`'s at place `i`, `-` in gaps.
 */
export function statesWithGaps(mapIndexes: readonly number[], joined: string): string {
  const out: string[] = [];
  mapIndexes.forEach((m, k) => {
    while (out.length < m) out.push("-");
    out[m] = joined[k] ?? "-";
  });
  return out.join("");
}
