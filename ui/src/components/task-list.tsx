// The run's tasks as a list, the graph's keyboard twin: a big graph draws only the nodes near its
// view, so a keyboard user reaches every task here instead. One row a task (a mapped task's counts
// in its row), filtered by state and name; Tab enters the list at the current row, the arrow keys,
// Home, End, Page Up and Page Down move between rows, Enter opens the task beside it, and when the
// task panel closes the focus comes back to the row it was opened from.

import { type KeyboardEvent, memo, useEffect, useMemo, useRef, useState } from "react";
import { formatDuration, number } from "../format.ts";
import { SegmentedBar, StateBadge, type StateGroup, stateGroup } from "../states.tsx";
import { type TaskSummary, taskState } from "../tasks.ts";

const GROUP_NAMES: Record<StateGroup, string> = {
  failed: "Failed",
  warning: "Retrying or crashed",
  running: "Running",
  pending: "Pending",
  success: "Succeeded",
  cancelled: "Cancelled",
  skipped: "Skipped",
};
const GROUP_ORDER: StateGroup[] = [
  "failed",
  "warning",
  "running",
  "pending",
  "success",
  "cancelled",
  "skipped",
];
/** Rows a Page Up / Page Down moves. */
const PAGE_ROWS = 10;

const Row = memo(function Row({
  task,
  active,
  selected,
  onSelect,
}: {
  task: TaskSummary;
  active: boolean;
  selected: boolean;
  onSelect: (slug: string) => void;
}) {
  const state = taskState(task);
  const done = task.mapped ? Object.entries(task.counts).filter(([s]) => stateGroup(s) === "success") : [];
  return (
    <tr data-slug={task.slug} className={selected ? "selected" : undefined}>
      <td>
        <button
          type="button"
          className="link tasklist-open"
          tabIndex={active ? 0 : -1}
          onClick={() => onSelect(task.slug)}
          aria-current={selected ? "true" : undefined}
          aria-label={`${task.slug}${task.mapped ? `, mapped over ${number.format(task.total)}` : ""}, ${state}`}
        >
          {task.slug}
        </button>
      </td>
      <td>
        <StateBadge state={state} />
      </td>
      <td className="num">
        {task.mapped
          ? `${number.format(done.reduce((a, [, n]) => a + n, 0))} / ${number.format(task.total)}`
          : ""}
      </td>
      <td className="num">
        {task.startedAt !== undefined ? formatDuration((task.endedAt ?? Date.now()) - task.startedAt) : "—"}
      </td>
      <td className="bar">
        {task.mapped && task.total > 0 && <SegmentedBar counts={task.counts} compact />}
      </td>
    </tr>
  );
});

export function TaskList({
  tasks,
  selected,
  onSelect,
}: {
  tasks: TaskSummary[];
  selected: string | undefined;
  onSelect: (slug: string) => void;
}) {
  const [group, setGroup] = useState<StateGroup | "">("");
  const [text, setText] = useState("");
  const [active, setActive] = useState<string | undefined>(selected);
  const body = useRef<HTMLTableSectionElement>(null);
  const groups = useMemo(() => {
    const n = new Map<StateGroup, number>();
    for (const t of tasks) {
      const g = stateGroup(taskState(t));
      n.set(g, (n.get(g) ?? 0) + 1);
    }
    return GROUP_ORDER.filter((g) => n.has(g) || g === group).map((g) => [g, n.get(g) ?? 0] as const);
  }, [tasks, group]);
  const shown = useMemo(() => {
    const q = text.trim().toLowerCase();
    return tasks.filter(
      (t) => (!group || stateGroup(taskState(t)) === group) && (!q || t.slug.toLowerCase().includes(q)),
    );
  }, [tasks, group, text]);
  // the row Tab enters at: the one last moved to, else the opened task's, else the first
  const current = shown.find((t) => t.slug === active)?.slug ?? shown[0]?.slug;

  const focusRow = (slug: string | undefined) => {
    if (slug === undefined) return;
    setActive(slug);
    const rows = body.current?.querySelectorAll<HTMLTableRowElement>("tr[data-slug]") ?? [];
    for (const tr of rows)
      if (tr.dataset.slug === slug) tr.querySelector<HTMLButtonElement>("button.tasklist-open")?.focus();
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    const i = shown.findIndex((t) => t.slug === current);
    const to =
      e.key === "ArrowDown"
        ? i + 1
        : e.key === "ArrowUp"
          ? i - 1
          : e.key === "PageDown"
            ? i + PAGE_ROWS
            : e.key === "PageUp"
              ? i - PAGE_ROWS
              : e.key === "Home"
                ? 0
                : e.key === "End"
                  ? shown.length - 1
                  : undefined;
    if (to === undefined || shown.length === 0) return;
    e.preventDefault();
    focusRow(shown[Math.max(0, Math.min(shown.length - 1, to))]?.slug);
  };

  // The task panel closed: the focus comes back to the row the task was opened from.
  const opened = useRef(selected);
  useEffect(() => {
    const was = opened.current;
    opened.current = selected;
    if (selected !== undefined) setActive(selected);
    else if (was !== undefined && document.activeElement === document.body) focusRow(was);
  });

  return (
    <div className="tasklist">
      <div className="filters">
        <label>
          State{" "}
          <select value={group} onChange={(e) => setGroup(e.target.value as StateGroup | "")}>
            <option value="">all states ({number.format(tasks.length)})</option>
            {groups.map(([g, n]) => (
              <option key={g} value={g}>
                {GROUP_NAMES[g]} ({number.format(n)})
              </option>
            ))}
          </select>
        </label>
        <label>
          Task{" "}
          <input
            type="search"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="part of its name"
          />
        </label>
        <span className="muted small" role="status" data-testid="tasklist-count">
          {shown.length === tasks.length
            ? `${number.format(tasks.length)} tasks`
            : `${number.format(shown.length)} of ${number.format(tasks.length)} tasks`}
        </span>
      </div>
      <div className="tablewrap tasklist-rows">
        <table className="compact">
          <caption className="sr-only">
            The run's tasks: arrow keys move between them, Enter opens one beside the list
          </caption>
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">State</th>
              <th scope="col" className="num">
                Children done
              </th>
              <th scope="col" className="num">
                Took
              </th>
              <th scope="col">
                <span className="sr-only">Children by state</span>
              </th>
            </tr>
          </thead>
          <tbody ref={body} onKeyDown={onKeyDown}>
            {shown.map((t) => (
              <Row
                key={t.slug}
                task={t}
                active={t.slug === current}
                selected={t.slug === selected}
                onSelect={onSelect}
              />
            ))}
          </tbody>
        </table>
        {shown.length === 0 && <p className="muted empty">No task matches.</p>}
      </div>
    </div>
  );
}
