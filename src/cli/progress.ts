// Progress of long waits on stderr. On a terminal (io.interactive): one line that updates in
// place with `\r` and the seconds elapsed; otherwise one plain line per step, nothing else, so
// logs and pipes stay readable. Always call done() (in a finally): it stops the ticker. The time
// and the ticker come from the Deps clock (issue 20 item 2): a test clock never redraws on its own.
import type { Clock } from "../domain/clock.ts";
import type { IO } from "./io.ts";

export interface Progress {
  /** A new step: on a terminal the previous step's line is kept and a new one starts. */
  step(line: string): void;
  /** The same step, counted on (`[3/10] …`): on a terminal it replaces the current line. */
  update(line: string): void;
  /** Ends the updating line; idempotent. */
  done(): void;
}

export interface ProgressOptions {
  /** How often the elapsed seconds are redrawn on a terminal; default 1000 ms. */
  tickMs?: number;
}

// Carriage return, the line, then "erase to end of line" so a shorter line leaves no residue.
const ERASE = "\x1b[K";
const UUID_RE = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g;

export function createProgress(
  io: IO,
  clock: Pick<Clock, "now" | "every">,
  o: ProgressOptions = {},
): Progress {
  if (!io.interactive) {
    const plain = (line: string) => io.err.write(line + "\n");
    return { step: plain, update: plain, done() {} };
  }
  const now = () => clock.now().getTime();
  let current: string | null = null;
  let started = 0;
  let stop: (() => void) | undefined;
  // `\r` returns to the start of the terminal's line, not of a wrapped one: a line wider than
  // the terminal would leave its wrapped part behind at every redraw (80-column consoles).
  const width = Math.max((io.columns ?? 80) - 1, 20);
  const draw = () => {
    if (current === null) return;
    const secs = ` (${Math.floor((now() - started) / 1000)} s)`;
    const room = width - secs.length;
    // Too long: the uuids go first (`7d1e2f00…`), never the meaning ("waiting up to 120 s").
    const short = current.length > room
      ? current.replace(UUID_RE, (u) => `${u.slice(0, 8)}…`)
      : current;
    const text = short.length > room ? short.slice(0, Math.max(room - 1, 0)) + "…" : short;
    io.err.write(`\r${text}${secs}${ERASE}`);
  };
  const stopTimer = () => {
    stop?.();
    stop = undefined;
  };
  const startTimer = () => {
    stopTimer();
    // a forgotten done() never keeps the process alive: the clock's ticker does not (deps.ts)
    stop = clock.every(o.tickMs ?? 1000, draw);
  };
  return {
    step(line) {
      if (current !== null) io.err.write("\n");
      current = line;
      started = now();
      draw();
      startTimer();
    },
    update(line) {
      if (current === null) started = now();
      current = line;
      draw();
      if (stop === undefined) startTimer();
    },
    done() {
      stopTimer();
      if (current !== null) io.err.write("\n");
      current = null;
    },
  };
}
