// Secrets shared by every process of a cluster run, over the run's own broker (password-protected,
// never persisted): a value the runner or any worker reads through `Secret` is put in the run's
// secrets set and, from a worker, sent to the runner on the output stream ahead of anything the
// task does with it. Every process registers every value with its scrubber.
//
// Ordering, so no process can print a value it has not registered: a worker's `Secret.get()`
// resolves only once the value is in the set and its `secret` message is on the stream (the
// runner reads it before that task's result and logs); each job carries the number of values the
// runner had put in the set when it was submitted (`JobData.v`), and a worker whose count is lower
// reads the set again before it runs the job.

import { knownSecrets, onSecretRegistered, registerSecret } from "../secrets/redact.ts";
import type { WorkerMessage } from "./protocol.ts";

/** The run's secrets set, as the run channel (RedisRunChannel) keeps it. */
export interface SecretSet {
  addSecret(value: string): Promise<void>;
  secrets(): Promise<string[]>;
}

/** The runner's side: publishes what it knows, registers what workers report. */
export class RunnerSecrets {
  readonly #set: SecretSet;
  readonly #published = new Set<string>();
  #pending: Promise<unknown> = Promise.resolve();
  #stop: (() => void) | undefined;

  constructor(set: SecretSet) {
    this.#set = set;
  }

  /** Put every secret this process knows in the run's set, and every one it learns later. */
  async start(): Promise<void> {
    this.#stop = onSecretRegistered((value) => {
      void this.#publish(value);
    });
    for (const v of knownSecrets()) void this.#publish(v);
    await this.settled();
  }

  /** A worker read a secret: scrub it here too (and count it for the jobs submitted from now on). */
  heard(value: string): void {
    registerSecret(value);
    void this.#publish(value);
  }

  /** How many values are in the run's set, as far as this runner wrote them. */
  get version(): number {
    return this.#published.size;
  }

  /** Resolves when every value counted in `version` is in the broker. */
  settled(): Promise<void> {
    return this.#pending.then(
      () => {},
      () => {},
    );
  }

  stop(): void {
    this.#stop?.();
  }

  #publish(value: string): Promise<unknown> {
    if (this.#published.has(value)) return this.#pending;
    this.#published.add(value);
    const write = this.#set.addSecret(value).catch(() => {});
    this.#pending = Promise.all([this.#pending, write]);
    return write;
  }
}

/** A worker's side: registers the run's secrets, reports those its tasks read. */
export class WorkerSecrets {
  readonly #set: SecretSet;
  readonly #send: (message: Extract<WorkerMessage, { t: "secret" }>) => Promise<void>;
  /** Values known to be in the run's set (read from it, or written there by this worker). */
  readonly #inSet = new Set<string>();
  #count = 0;
  #stop: (() => void) | undefined;

  constructor(set: SecretSet, send: (message: Extract<WorkerMessage, { t: "secret" }>) => Promise<void>) {
    this.#set = set;
    this.#send = send;
  }

  /** Register the run's secrets, then report every value this worker reads from now on. */
  async start(): Promise<void> {
    await this.#read();
    this.#stop = onSecretRegistered((value) => this.#report(value), { replay: true });
  }

  /** Before a job submitted when the runner knew `version` values: read the set if we know fewer. */
  async catchUp(version: number | undefined): Promise<void> {
    if (version === undefined || version <= this.#count) return;
    // the runner wrote them before it submitted the job; a few reads cover a slow replica
    for (let i = 0; i < 20 && this.#count < version; i++) {
      await this.#read();
      if (this.#count < version) await new Promise((r) => setTimeout(r, 25));
    }
  }

  stop(): void {
    this.#stop?.();
  }

  async #read(): Promise<void> {
    const values = await this.#set.secrets();
    for (const v of values) {
      this.#inSet.add(v);
      registerSecret(v);
    }
    this.#count = Math.max(this.#count, values.length);
  }

  async #report(value: string): Promise<void> {
    if (this.#inSet.has(value)) return;
    this.#inSet.add(value);
    await Promise.all([this.#set.addSecret(value), this.#send({ t: "secret", value })]);
  }
}
