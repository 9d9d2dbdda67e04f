// The streams a command may use (style.md rule 4): data to `out`; progress, questions and
// warnings to `err`. main.ts binds them to the process; tests use bufferIo().

export interface Output {
  /** Writes text as is (include the trailing newline). */
  write(text: string): void;
}

export interface IO {
  out: Output;
  err: Output;
  /** stdout is a terminal: human layouts may use colour (unless NO_COLOR). */
  color: boolean;
  /** stdout's terminal width in columns; null (or absent) when stdout is not a terminal. */
  columns?: number | null;
  /** stderr's terminal width in columns; null (or absent) when stderr is not a terminal. */
  errColumns?: number | null;
  /** stdin and stderr are terminals: questions are asked with an interactive prompt. */
  interactive: boolean;
  /** One line from stdin without its newline; null at end of input. */
  readLine(): Promise<string | null>;
}

/**
 * Characters per write of writeLines: a long report is never joined into one string, and a write's
 * string stays under V8's large-object size even two bytes a character (issue 19, peak RSS).
 */
const LINES_CHUNK = 16384;

/**
 * Writes each line and a newline; in one write up to LINES_CHUNK characters, else in pieces of
 * about that size (scan-vms at 10,000 VMs prints 2.6 MB: issue 19, peak RSS). Lines given as a
 * generator are made as they are written: a long report is never held whole.
 */
export function writeLines(o: Output, lines: Iterable<string>): void {
  const w = lineWriter(o);
  for (const l of lines) w.line(l);
  w.end();
}

/** writeLines for lines given one at a time: `line` each, then `end`. */
export function lineWriter(o: Output): { line(l: string): void; end(): void } {
  let chunk = "";
  return {
    line(l) {
      chunk += l + "\n";
      if (chunk.length >= LINES_CHUNK) {
        o.write(chunk);
        chunk = "";
      }
    },
    end() {
      if (chunk !== "") o.write(chunk);
      chunk = "";
    },
  };
}

export interface BufferIo extends IO {
  stdout(): string;
  stderr(): string;
}

/** An IO that records output and answers readLine from the given input lines. */
export function bufferIo(
  o: {
    input?: string[];
    color?: boolean;
    interactive?: boolean;
    columns?: number | null;
    errColumns?: number | null;
  } = {},
): BufferIo {
  let out = "";
  let err = "";
  const input = [...(o.input ?? [])];
  return {
    out: { write: (t) => void (out += t) },
    err: { write: (t) => void (err += t) },
    color: o.color ?? false,
    columns: o.columns ?? null,
    errColumns: o.errColumns ?? null,
    interactive: o.interactive ?? false,
    readLine: () => Promise.resolve(input.length > 0 ? input.shift()! : null),
    stdout: () => out,
    stderr: () => err,
  };
}
