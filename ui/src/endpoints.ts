// The server routes the dashboard calls (paths after /api), in one place.

const e = encodeURIComponent;

export const endpoints = {
  runs: (q: URLSearchParams) => `/runs?${q}`,
  run: (id: string) => `/runs/${e(id)}`,
  taskRuns: (id: string) => `/runs/${e(id)}/task-runs`,
  /** The run's task runs in brief, what its page paints first. */
  taskRunSummary: (id: string) => `/runs/${e(id)}/task-runs?view=summary`,
  /** Every task run of one task of the run. */
  taskRunsOf: (id: string, slug: string) => `/runs/${e(id)}/task-runs?slug=${e(slug)}`,
  /** A page of one task's children after map index `after`, in `states` (`!A`: not in A). */
  taskRunsPage: (id: string, slug: string, after: number, states: string, limit: number) =>
    `/runs/${e(id)}/task-runs?slug=${e(slug)}&after=${after}&states=${e(states)}&limit=${limit}`,
  logs: (id: string) => `/runs/${e(id)}/logs?limit=10000`,
  /** Every log line of the run, or of one task (a child by its index), as a text file. */
  logsDownload: (id: string, task?: string, index?: number) =>
    `/runs/${e(id)}/logs/download${task === undefined ? "" : `?task=${e(task)}${index === undefined ? "" : `&index=${index}`}`}`,
  cluster: (id: string) => `/runs/${e(id)}/cluster`,
  events: (id: string) => `/runs/${e(id)}/events`,
  cancel: (id: string) => `/runs/${e(id)}/cancel`,
  retry: (id: string) => `/runs/${e(id)}/retry`,
  deployments: () => "/deployments",
  deployment: (name: string) => `/deployments/${e(name)}`,
  startDeployment: (name: string) => `/deployments/${e(name)}/runs`,
  schedules: () => "/schedules",
  pause: (id: string) => `/schedules/${e(id)}/pause`,
  resume: (id: string) => `/schedules/${e(id)}/resume`,
  agents: () => "/agents",
  session: () => "/session",
};
