// Container logs: stdout and stderr of one container instance, line by line with timestamps, readable
// with tailLines/sinceSeconds/limitBytes/timestamps and followable until the instance ends.
export interface LogLine {
  time: Date;
  text: string;
}

export interface LogReadOptions {
  tailLines?: number;
  sinceSeconds?: number;
  timestamps?: boolean;
  limitBytes?: number;
}

const MAX_LINES = 20_000;

export class ContainerLog {
  private readonly lines: LogLine[] = [];
  private partial = "";
  private closed = false;
  private readonly followers = new Set<{
    write: (s: string) => void;
    end: () => void;
    timestamps: boolean;
  }>();

  get ended(): boolean {
    return this.closed;
  }

  append(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    for (const p of parts) this.push(`${p}\n`);
  }

  /** the instance ended: flush a trailing partial line and end followers */
  end(): void {
    if (this.closed) return;
    if (this.partial) {
      this.push(this.partial);
      this.partial = "";
    }
    this.closed = true;
    for (const f of this.followers) f.end();
    this.followers.clear();
  }

  private push(text: string): void {
    const line = { time: new Date(), text };
    this.lines.push(line);
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
    for (const f of this.followers) f.write(format(line, f.timestamps));
  }

  /** the last lines, newest last */
  tail(n: number): string[] {
    return this.lines.slice(-n).map((l) => l.text);
  }

  read(options: LogReadOptions = {}): string {
    let lines = this.lines;
    if (options.sinceSeconds !== undefined) {
      const since = Date.now() - options.sinceSeconds * 1000;
      lines = lines.filter((l) => l.time.getTime() >= since);
    }
    if (options.tailLines !== undefined)
      lines = options.tailLines <= 0 ? [] : lines.slice(-options.tailLines);
    let out = lines.map((l) => format(l, options.timestamps === true)).join("");
    if (options.limitBytes !== undefined) out = Buffer.from(out).subarray(0, options.limitBytes).toString();
    return out;
  }

  /** stream new lines to `write` until the instance ends; returns an unsubscribe */
  follow(write: (s: string) => void, end: () => void, timestamps: boolean): () => void {
    if (this.closed) {
      end();
      return () => {};
    }
    const f = { write, end, timestamps };
    this.followers.add(f);
    return () => this.followers.delete(f);
  }
}

function format(line: LogLine, timestamps: boolean): string {
  if (!timestamps) return line.text;
  return `${line.time.toISOString().replace(/Z$/, "000000Z")} ${line.text}`;
}
