// The binding to the real process: its standard streams and the terminal question.
import type { Prompt } from "./confirm.ts";
import type { IO } from "./io.ts";
import { holdSignals } from "./signal-hold.ts";

/** Characters encoded per write of a large output. */
const SLICE = 65536;

export function systemIo(): IO {
  const enc = new TextEncoder();
  const closed = new Set<unknown>();
  // Large outputs (status --format=json at 10,000 VMs: 11 MB) are encoded a slice at a time
  // into one reused buffer: no second whole copy of the text in memory (issue 12, peak RSS).
  const chunk = new Uint8Array(3 * SLICE);
  const writeAll = (f: typeof Deno.stdout, text: string) => {
    if (closed.has(f)) return;
    try {
      for (let i = 0; i < text.length;) {
        let end = Math.min(i + SLICE, text.length);
        // never split a surrogate pair between two slices
        if (end < text.length && (text.charCodeAt(end - 1) & 0xfc00) === 0xd800) end--;
        // (into the reused buffer every time: a new buffer per write is garbage outside the heap)
        const piece = i === 0 && end === text.length ? text : text.slice(i, end);
        const buf = chunk.subarray(0, enc.encodeInto(piece, chunk).written);
        let off = 0;
        while (off < buf.length) off += f.writeSync(buf.subarray(off));
        i = end;
      }
    } catch (e) {
      // The reader went away (`vgpu-admin list-vms | head`), or the terminal did (a dropped SSH
      // session: EIO): drop the rest, as other CLIs do. A change in progress must go on.
      if (!(e instanceof Error)) throw e;
      closed.add(f);
    }
  };
  let pending = "";
  const dec = new TextDecoder();
  return {
    out: { write: (t) => writeAll(Deno.stdout, t) },
    err: { write: (t) => writeAll(Deno.stderr, t) },
    color: Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined,
    columns: Deno.stdout.isTerminal() ? terminalColumns(Deno.env.get("COLUMNS")) : null,
    errColumns: Deno.stderr.isTerminal() ? terminalColumns(Deno.env.get("COLUMNS")) : null,
    interactive: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
    async readLine() {
      // Reads byte chunks until a newline: enough for one confirmation answer.
      const buf = new Uint8Array(256);
      // bounded (issue 18 B8): a stdin that never ends a line (< /dev/zero) is no answer
      while (!pending.includes("\n") && pending.length < MAX_ANSWER) {
        const n = await Deno.stdin.read(buf);
        if (n === null) {
          if (pending === "") return null;
          const last = pending;
          pending = "";
          return last;
        }
        pending += dec.decode(buf.subarray(0, n), { stream: true });
      }
      let i = pending.indexOf("\n");
      if (i < 0) i = pending.length; // cut at the bound: whatever it is, it is not "yes"
      const line = pending.slice(0, i).replace(/\r$/, "");
      pending = pending.slice(i + 1);
      return line;
    },
  };
}

/** The longest answer read from stdin at a question, in characters. */
const MAX_ANSWER = 4096;

/**
 * The width of the terminal on stdout or stderr (the stream is a terminal): the terminal's own
 * size, else COLUMNS (a terminal that reports no size, such as a serial console), else 80.
 */
export function terminalColumns(columnsEnv: string | undefined): number {
  try {
    const { columns } = Deno.consoleSize();
    if (columns > 0) return columns;
  } catch {
    // no size known for this terminal: fall through
  }
  const n = Number(columnsEnv);
  return Number.isInteger(n) && n > 0 ? n : 80;
}

/**
 * The terminal's yes/no question, in cooked mode: the terminal echoes and edits the line, Ctrl-D
 * on an empty line ends input, and Ctrl-C raises SIGINT, which is caught while the question is
 * open (the default action is back once the listener is removed). Both return null: no.
 */
export const terminalPrompt: Prompt = {
  async ask(question) {
    let onInterrupt = () => {};
    const interrupted = new Promise<null>((resolve) => {
      onInterrupt = () => resolve(null);
    });
    // listening before the question is shown: a Ctrl-C typed at once is a "no", not a kill,
    // and not the end of the run either (signal-exit.ts leaves a held signal alone)
    Deno.addSignalListener("SIGINT", onInterrupt);
    const release = holdSignals(["SIGINT"]);
    try {
      Deno.stderr.writeSync(new TextEncoder().encode(`${question} `));
      return await Promise.race([readTerminalLine(), interrupted]);
    } finally {
      release();
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
  },
};

/** One line typed on the terminal; null at Ctrl-D (a read of 0 bytes). */
async function readTerminalLine(): Promise<string | null> {
  const dec = new TextDecoder();
  const buf = new Uint8Array(256);
  let line = "";
  for (;;) {
    const n = await Deno.stdin.read(buf);
    if (n === null) return null;
    line += dec.decode(buf.subarray(0, n), { stream: true });
    const i = line.indexOf("\n");
    if (i >= 0) return line.slice(0, i).replace(/\r$/, "");
  }
}
