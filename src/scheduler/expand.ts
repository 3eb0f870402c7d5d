// Schedule expansion (pure apart from croner's arithmetic): the ticks of a cron expression in a
// time zone, or of an interval, between two instants; and which of the ticks due since the last
// one become runs under the catch-up policy after downtime:
//   all  — every missed tick gets its run;
//   once — the missed ticks get one run, for the latest of them;
//   skip — missed ticks are dropped; only ticks due within the grace window run.

import { Cron } from "croner";
import { ApiCode, ApiError } from "../server/api-error.ts";
import type { CatchUp, ScheduleRecord } from "../store/store.ts";

/** A tick due less than this long ago is on time, not missed. */
export const GRACE_MS = 30_000;
/** The most runs one catch-up creates (`all` after a long downtime). */
export const MAX_CATCH_UP = 1000;

export interface ScheduleSpec {
  cron?: string;
  intervalMs?: number;
  timezone: string;
}

function cronOf(expression: string, timezone: string): Cron {
  return new Cron(expression, { timezone, paused: true, mode: "5-or-6-parts" });
}

/** Throws ApiError 400 naming what is wrong with a cron expression, interval or time zone. */
export function validateSchedule(s: ScheduleSpec): void {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: s.timezone });
  } catch {
    throw new ApiError(
      400,
      ApiCode.Invalid,
      `schedule: unknown time zone "${s.timezone}"`,
      "use an IANA name such as UTC, Europe/Berlin or America/New_York",
    );
  }
  if (s.cron !== undefined) {
    try {
      cronOf(s.cron, s.timezone).nextRun();
    } catch (e) {
      throw new ApiError(
        400,
        ApiCode.Invalid,
        `schedule: "${s.cron}" is not a cron expression: ${(e as Error).message.replace(/^CronPattern: /, "")}`,
        'use five fields: minute hour day-of-month month day-of-week, e.g. "*/15 * * * *"',
      );
    }
  } else if (s.intervalMs === undefined || !(s.intervalMs >= 1000)) {
    throw new ApiError(
      400,
      ApiCode.Invalid,
      "schedule: give a cron expression or an interval of at least 1 s",
    );
  }
}

/** Ticks in (after, until], ascending, at most `max`. */
export function ticksBetween(
  s: ScheduleSpec & { createdAt?: number },
  after: number,
  until: number,
  max: number,
): number[] {
  const out: number[] = [];
  if (s.intervalMs !== undefined) {
    const origin = s.createdAt ?? 0;
    let k = Math.floor((after - origin) / s.intervalMs) + 1;
    for (let t = origin + k * s.intervalMs; t <= until && out.length < max; t = origin + ++k * s.intervalMs) {
      if (t > after) out.push(t);
    }
    return out;
  }
  if (s.cron === undefined) return out;
  const cron = cronOf(s.cron, s.timezone);
  let from = new Date(after);
  while (out.length < max) {
    const next = cron.nextRun(from);
    if (next === null || next.getTime() > until) break;
    out.push(next.getTime());
    from = next;
  }
  return out;
}

/** The next `n` ticks after `now` (for display). */
export function nextTicks(s: ScheduleRecord, now: number, n: number): number[] {
  return ticksBetween(s, now, Number.MAX_SAFE_INTEGER, n);
}

/** The ticks that become runs now, under the catch-up policy. */
export function dueTicks(
  s: ScheduleSpec & { createdAt?: number; lastTickAt?: number; catchUp: CatchUp },
  now: number,
): number[] {
  const since = s.lastTickAt ?? s.createdAt ?? now;
  if (since >= now) return [];
  // With `all`, the oldest missed ticks first; otherwise only the newest matter.
  const due =
    s.catchUp === "all"
      ? ticksBetween(s, since, now, MAX_CATCH_UP)
      : ticksBetween(s, Math.max(since, latestStart(s, since, now)), now, MAX_CATCH_UP);
  if (s.catchUp === "all") return due;
  const onTime = due.filter((t) => t >= now - GRACE_MS);
  if (s.catchUp === "skip") return onTime;
  if (onTime.length > 0) return onTime;
  const latest = due[due.length - 1];
  return latest === undefined ? [] : [latest];
}

/**
 * A start from which the last missed tick is still found without walking a long downtime
 * tick by tick: for intervals, exact; for cron, a window before `now` of growing size.
 */
function latestStart(s: ScheduleSpec & { createdAt?: number }, since: number, now: number): number {
  if (s.intervalMs !== undefined) return Math.max(since, now - s.intervalMs - GRACE_MS);
  for (const window of [GRACE_MS, 3_600_000, 86_400_000, 31 * 86_400_000, 366 * 86_400_000]) {
    const start = Math.max(since, now - window);
    if (ticksBetween(s, start, now, 1).length > 0 || start === since) return start;
  }
  return since;
}
