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
  /** stdin and stderr are terminals: questions are asked with an interactive prompt. */
  interactive: boolean;
  /** One line from stdin without its newline; null at end of input. */
  readLine(): Promise<string | null>;
}

/** Writes lines joined by newlines, with a final newline, in one write. */
export function writeLines(o: Output, lines: readonly string[]): void {
  if (lines.length > 0) o.write(lines.join("\n") + "\n");
}

export interface BufferIo extends IO {
  stdout(): string;
  stderr(): string;
}

/** An IO that records output and answers readLine from the given input lines. */
export function bufferIo(
  o: { input?: string[]; color?: boolean; interactive?: boolean; columns?: number | null } = {},
): BufferIo {
  let out = "";
  let err = "";
  const input = [...(o.input ?? [])];
  return {
    out: { write: (t) => void (out += t) },
    err: { write: (t) => void (err += t) },
    color: o.color ?? false,
    columns: o.columns ?? null,
    interactive: o.interactive ?? false,
    readLine: () => Promise.resolve(input.length > 0 ? input.shift()! : null),
    stdout: () => out,
    stderr: () => err,
  };
}
