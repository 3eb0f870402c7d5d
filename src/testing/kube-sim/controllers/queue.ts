// A deduplicating work queue: keys enqueued while pending are processed once, off the caller's stack
// (store listeners fire synchronously inside writes), one at a time, with delayed re-queues.
export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly process: (key: string) => void | Promise<void>,
    private readonly onError: (key: string, e: unknown) => void,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.drain());
    }
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        this.add(key);
      },
      Math.max(0, ms),
    );
    this.timers.add(t);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0 && !this.stopped) {
      const [key] = this.pending;
      this.pending.delete(key!);
      try {
        await this.process(key!);
      } catch (e) {
        this.onError(key!, e);
      }
    }
    this.scheduled = false;
  }
}
