// Colours for states on a terminal. On when the stream is a TTY that supports colours, off
// otherwise; NO_COLOR (any non-empty value, https://no-color.org) turns them off and FORCE_COLOR
// (anything but 0/false) turns them on, even into a pipe. Colour is decoration only: the text
// without it says the same.

type Stream = { isTTY?: boolean; hasColors?: () => boolean };

/** Whether to colour what goes to `stream`. */
export function colorEnabled(stream: Stream | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== "0" && force !== "false") return true;
  if (force !== undefined) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (!stream?.isTTY) return false;
  return typeof stream.hasColors === "function" ? stream.hasColors() : true;
}

// SGR codes (open, close); written by hand: util.styleText's stream checks differ across Node 20.x.
const SGR = {
  bold: [1, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
} as const;
type Style = keyof typeof SGR;

const STATE_STYLES: Record<string, Style> = {
  Success: "green",
  Succeeded: "green",
  Failed: "red",
  TriggerFailed: "red",
  TimedOut: "red",
  Stuck: "red",
  Cancelled: "magenta",
  Running: "cyan",
  Retrying: "yellow",
  Pending: "yellow",
  Scheduled: "yellow",
  Skipped: "gray",
  Mapped: "blue",
};

/** `text` styled for the state it starts with (`Failed: why` is red), or unchanged. */
export function paintState(text: string, on: boolean): string {
  if (!on) return text;
  const word = /^[A-Za-z]+/.exec(text)?.[0] ?? "";
  const style = STATE_STYLES[word];
  return style ? wrap(style, text) : text;
}

/** `text` in bold (headers), or unchanged. */
export function paintBold(text: string, on: boolean): string {
  return on ? wrap("bold", text) : text;
}

function wrap(style: Style, text: string): string {
  const [open, close] = SGR[style];
  return `\x1b[${open}m${text}\x1b[${close}m`;
}
