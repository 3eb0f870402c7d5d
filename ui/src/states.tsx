// State colours and labels: every state is shown as text next to its colour (never colour alone),
// and the segmented bar shows how many task runs are in each state, with the counts as text.

export type StateGroup = "success" | "failed" | "running" | "pending" | "cancelled" | "warning" | "skipped";

const GROUP: Record<string, StateGroup> = {
  success: "success",
  completed: "success",
  failed: "failed",
  crashed: "failed",
  timedout: "failed",
  triggerfailed: "failed",
  error: "failed",
  running: "running",
  starting: "running",
  mapped: "running",
  pending: "pending",
  scheduled: "pending",
  queued: "pending",
  cancelling: "warning",
  retrying: "warning",
  cancelled: "cancelled",
  skipped: "skipped",
};

/** Which colour family a state belongs to (unknown states are shown as pending, with their name). */
export function stateGroup(state: string | undefined): StateGroup {
  return GROUP[(state ?? "").toLowerCase().replace(/[^a-z]/g, "")] ?? "pending";
}

/** Final states of a flow run or task run. */
export function isFinal(state: string | undefined): boolean {
  const g = stateGroup(state);
  return g === "success" || g === "failed" || g === "cancelled" || g === "skipped";
}

const ICON: Record<StateGroup, string> = {
  success: "✓",
  failed: "✕",
  running: "▶",
  pending: "○",
  warning: "!",
  cancelled: "–",
  skipped: "↷",
};

/** A state pill: icon, colour and the state's name. */
export function StateBadge({ state, title }: { state: string | undefined; title?: string }) {
  const s = state ?? "Unknown";
  const g = stateGroup(s);
  return (
    <span className={`badge st-${g}`} title={title ?? s} data-state={s}>
      <span aria-hidden="true">{ICON[g]}</span> {s}
    </span>
  );
}

const ORDER: StateGroup[] = ["success", "failed", "warning", "running", "pending", "cancelled", "skipped"];

/** A bar split by state with its counts, e.g. 9,500 Success · 20 Failed · 480 Running. */
export function SegmentedBar({ counts, compact }: { counts: Record<string, number>; compact?: boolean }) {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  entries.sort((a, b) => ORDER.indexOf(stateGroup(a[0])) - ORDER.indexOf(stateGroup(b[0])));
  const total = entries.reduce((a, [, n]) => a + n, 0);
  const label = entries.map(([s, n]) => `${n.toLocaleString()} ${s}`).join(", ");
  return (
    <span className={compact ? "segbar compact" : "segbar"} title={label}>
      <span className="segbar-track" role="img" aria-label={label || "no task runs"}>
        {entries.map(([s, n]) => (
          <span
            key={s}
            className={`seg st-${stateGroup(s)}`}
            style={{ width: `${(100 * n) / Math.max(1, total)}%` }}
          />
        ))}
      </span>
      {!compact && (
        <span className="segbar-text">
          {entries.map(([s, n]) => (
            <span key={s} className={`segcount t-${stateGroup(s)}`} data-state={s}>
              {n.toLocaleString()} {s}
            </span>
          ))}
        </span>
      )}
    </span>
  );
}
