// The agent: claims due runs of its pool from the server (leases), launches each through a
// launcher, renews the leases of what it runs, and reconciles: a run whose infrastructure ended
// without a final state is marked Crashed with the launcher's reason; a run a user cancelled has
// its infrastructure removed first, then is marked Cancelled — no run stays Cancelling. It talks
// to the server over HTTP only.

import { hostname } from "node:os";
import type { ApiClient } from "../server/client.ts";
import { isTerminal, type RunStateName } from "../store/run-state.ts";
import type { DeploymentRecord, FlowRecord, FlowRunRecord, LogLine } from "../store/store.ts";

/** What the agent gives a launcher for one run. */
export interface LaunchRequest {
  run: FlowRunRecord;
  deployment: DeploymentRecord & { module?: string; image?: string; fingerprint?: string };
  flow?: Pick<FlowRecord, "name" | "module" | "image" | "fingerprint">;
  /**
   * The server's URL and the run's own token the runner reports with (minted by the server for
   * this run: scope runner, only its reporting, revoked when it ends). Never log it.
   */
  serverUrl: string;
  token: string;
  /** Log lines the launcher records for the run (its Kubernetes Events), sent to the server. */
  onLogs?: (lines: LogLine[]) => void;
}

/** How a launched run's infrastructure ended. */
export interface LaunchOutcome {
  /** True when the runner exited normally (it reported its own final state). */
  ok: boolean;
  /** The OS or Kubernetes reason, for a Crashed run. */
  reason: string;
  /**
   * The final state the runner left where the launcher can read it (a Kubernetes termination
   * message), recorded when the runner could not report it itself.
   */
  final?: { state: "Success" | "Failed"; message: string };
  /** The launcher stopped following the run (its agent is going away): nothing to record. */
  detached?: boolean;
}

export interface Launched {
  /** What was created (a pid, a Job name), kept on the run. */
  infraRef: string;
  ended: Promise<LaunchOutcome>;
  /** Resolves when the runner runs (the run is then Running, whether or not the runner reports). */
  started?: Promise<void>;
  /** Remove the infrastructure; resolves once it is gone. */
  cancel(): Promise<void>;
}

export interface AgentLauncher {
  readonly kind: string;
  launch(request: LaunchRequest): Promise<Launched>;
  /** Find what an earlier agent process launched for this run (re-adoption), if it still runs. */
  adopt?(run: FlowRunRecord, hooks?: Pick<LaunchRequest, "onLogs">): Promise<Launched | undefined>;
}

export interface AgentOptions {
  client: ApiClient;
  /**
   * @deprecated ignored: each launched run reports with its own token, minted by the server
   * (POST /api/runs/:id/token) when the agent launches it.
   */
  runnerToken?: string;
  pool: string;
  launcher: AgentLauncher;
  /** Stable across restarts so the agent re-adopts its runs. @default `${hostname()}-${pool}` */
  id?: string;
  name?: string;
  /** Most runs at once on this agent. @default 4 */
  capacity?: number;
  /** The pool's limit across agents (counted by the server over live runs). */
  poolLimit?: number;
  /** @default 1000 */
  pollMs?: number;
  /** @default 30000 */
  leaseMs?: number;
  onError?: (error: unknown) => void;
}

interface Held {
  run: FlowRunRecord;
  launched?: Launched;
  cancelling?: boolean;
}

export class Agent {
  readonly id: string;
  readonly #o: AgentOptions;
  readonly #held = new Map<string, Held>();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: AgentOptions) {
    this.#o = options;
    this.id = options.id ?? `${hostname()}-${options.pool}`;
  }

  /** The runs this agent holds now. */
  get held(): string[] {
    return [...this.#held.keys()];
  }

  start(): void {
    this.#schedule(0);
  }

  /** Run a pass now (a run was created or cancelled). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pass = this.pass()
        .catch((e) => this.#o.onError?.(e))
        .finally(() => {
          this.#pass = undefined;
          const again = this.#again;
          this.#again = false;
          this.#schedule(again ? 0 : (this.#o.pollMs ?? 1000));
        });
    }, ms);
  }

  async #state(
    run: string,
    state: RunStateName,
    details: { reason?: string; infraRef?: string } = {},
  ): Promise<FlowRunRecord | undefined> {
    try {
      return await this.#o.client.post<FlowRunRecord>(`/api/runs/${run}/state`, { state, ...details });
    } catch (e) {
      if ((e as { status?: number }).status === 409) return undefined; // it moved on already (the runner finished it)
      throw e;
    }
  }

  /** One reconciliation pass: renew, claim, cancel, launch. */
  async pass(): Promise<void> {
    const { client, pool } = this.#o;
    const leaseMs = this.#o.leaseMs ?? 30_000;
    if (this.#held.size > 0)
      await client.post(`/api/agents/${this.id}/renew`, { runIds: this.held, leaseMs });
    const room = Math.max(0, (this.#o.capacity ?? 4) - this.#held.size);
    const { runs, cancelling } = await client.post<{ runs: FlowRunRecord[]; cancelling: FlowRunRecord[] }>(
      `/api/agents/${this.id}/claim`,
      {
        pool,
        name: this.#o.name ?? `${hostname()} (${this.#o.launcher.kind})`,
        limit: room,
        leaseMs,
        ...(this.#o.poolLimit !== undefined ? { poolLimit: this.#o.poolLimit } : {}),
      },
    );
    for (const run of cancelling) await this.#cancel(run);
    await this.#adoptOrphans(cancelling);
    for (const run of runs) await this.#launch(run);
  }

  /** Runs the server says this agent holds but this process does not know (it restarted). */
  async #adoptOrphans(cancelling: FlowRunRecord[]): Promise<void> {
    if (this.#adopted) return;
    this.#adopted = true;
    const mine: FlowRunRecord[] = [];
    for (const state of ["Pending", "Starting", "Running"] as const) {
      const page = await this.#o.client.get<{ items: FlowRunRecord[] }>(`/api/runs?state=${state}&limit=500`);
      mine.push(...page.items.filter((r) => r.agentId === this.id && !this.#held.has(r.id)));
    }
    for (const run of mine) {
      if (cancelling.some((c) => c.id === run.id)) continue;
      const launched = await this.#o.launcher.adopt?.(run, { onLogs: this.#logsOf(run.id) });
      if (launched) {
        const held: Held = { run, launched };
        this.#held.set(run.id, held);
        this.#whenStarted(held);
        void this.#watch(held);
      } else if (run.state === "Pending") {
        // claimed but never launched before the restart: launch it now
        await this.#launch(run);
      } else {
        await this.#state(run.id, "Crashed", {
          reason: `the agent restarted and found no ${this.#o.launcher.kind} runner for this run`,
        });
      }
    }
  }

  #adopted = false;

  async #launch(run: FlowRunRecord): Promise<void> {
    const held: Held = { run };
    this.#held.set(run.id, held);
    try {
      if (run.deploymentId === undefined)
        throw new Error("the run has no deployment, so there is nothing to launch");
      const deployment = await this.#o.client.get<LaunchRequest["deployment"]>(
        `/api/deployments/${encodeURIComponent(run.deploymentId)}`,
      );
      // the run's own token: it may report this run only, and is revoked when the run ends
      const { token } = await this.#o.client.post<{ token: string }>(
        `/api/runs/${encodeURIComponent(run.id)}/token`,
        {},
      );
      held.launched = await this.#o.launcher.launch({
        run,
        deployment,
        serverUrl: this.#o.client.url,
        token,
        onLogs: this.#logsOf(run.id),
      });
      await this.#state(run.id, "Starting", { infraRef: held.launched.infraRef });
      this.#whenStarted(held);
      void this.#watch(held);
    } catch (e) {
      this.#held.delete(run.id);
      await this.#state(run.id, "Crashed", {
        reason: `the ${this.#o.launcher.kind} launcher could not start the run: ${(e as Error).message}`,
      }).catch(() => {});
    }
  }

  /** Sends a launcher's log lines of `runId` (its Kubernetes Events) to the server's run logs. */
  #logsOf(runId: string): (lines: LogLine[]) => void {
    return (logs) =>
      void this.#o.client
        .post(`/api/runs/${encodeURIComponent(runId)}/report`, { logs })
        .catch((e) => this.#o.onError?.(e));
  }

  /** The runner runs: the run is Running (refused, and ignored, once it has moved past it). */
  #whenStarted(held: Held): void {
    void held.launched?.started?.then(() =>
      held.cancelling ? undefined : this.#state(held.run.id, "Running").catch((e) => this.#o.onError?.(e)),
    );
  }

  async #watch(held: Held): Promise<void> {
    const outcome = await held.launched!.ended;
    if (outcome.detached) {
      this.#held.delete(held.run.id);
      return;
    }
    try {
      const run = await this.#o.client.get<FlowRunRecord>(`/api/runs/${held.run.id}`);
      if (held.cancelling || run.state === "Cancelling") {
        await this.#state(run.id, "Cancelled", { reason: "cancelled; its runner is gone" });
      } else if (!isTerminal(run.state) && outcome.final) {
        // the runner could not report its end; its termination message did
        if (run.state !== "Running") await this.#state(run.id, "Running");
        await this.#state(run.id, outcome.final.state, { reason: outcome.final.message });
      } else if (!isTerminal(run.state)) {
        await this.#state(run.id, "Crashed", {
          reason: outcome.reason || "the runner exited without reporting a final state",
        });
      }
    } catch (e) {
      this.#o.onError?.(e);
    } finally {
      this.#held.delete(held.run.id);
      this.wake(); // its slot is free
    }
  }

  async #cancel(run: FlowRunRecord): Promise<void> {
    const held = this.#held.get(run.id);
    if (held?.launched) {
      held.cancelling = true;
      await held.launched.cancel(); // #watch records Cancelled once it is gone
      return;
    }
    const adopted = held ? undefined : await this.#o.launcher.adopt?.(run);
    if (adopted) await adopted.cancel();
    await this.#state(run.id, "Cancelled", { reason: "cancelled before its runner started" });
  }

  /** Stop claiming; the runs it launched go on (a restarted agent re-adopts them). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pass;
  }

  /** Stop, and cancel everything this agent runs (the embedded agent when its server stops). */
  async shutdown(): Promise<void> {
    await this.stop();
    await Promise.all([...this.#held.values()].map((h) => h.launched?.cancel()));
  }
}
