// Formatting of times, durations and counts for people: short, locale-aware, never "NaN".

/** A timestamp (ms or ISO string) as a Date, or undefined. */
export function toDate(t: unknown): Date | undefined {
  if (t === null || t === undefined || t === "") return undefined;
  const d = typeof t === "number" ? new Date(t) : new Date(String(t));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function toMs(t: unknown): number | undefined {
  return toDate(t)?.getTime();
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

export function formatTime(t: unknown): string {
  const d = toDate(t);
  return d ? timeFmt.format(d) : "—";
}

/** 850 ms, 12.3 s, 4 m 05 s, 2 h 03 m. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, "0")} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Duration between two timestamps; a missing end means "until now". */
export function between(start: unknown, end: unknown, now = Date.now()): number | undefined {
  const s = toMs(start);
  if (s === undefined) return undefined;
  return (toMs(end) ?? now) - s;
}

/** "3 minutes ago" style. */
export function ago(t: unknown, now = Date.now()): string {
  const ms = toMs(t);
  if (ms === undefined) return "never";
  const d = now - ms;
  if (d < 0) return `in ${formatDuration(-d)}`;
  if (d < 5000) return "just now";
  return `${formatDuration(d)} ago`;
}

export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 8) : id;
}

export const number = new Intl.NumberFormat();
