// Confirmation as design.md §5 step 3: --yes answers in advance; a terminal is asked the same
// words as a pipe (`<question> `), again after an unrecognised answer, and Ctrl-C or Ctrl-D there
// mean no; otherwise one line is read from stdin (EOF = no).
import { DeclinedError, VgpuError } from "../domain/errors.ts";
import { describeFileError } from "../domain/file-errors.ts";
import type { IO } from "./io.ts";

export const APPLY_QUESTION = "Do you want to apply these settings? (yes/no):";

/** Asks on a terminal: writes `<question> ` and reads one line. */
export interface Prompt {
  /** The answer without its newline; null when the user pressed Ctrl-C or Ctrl-D. */
  ask(question: string): Promise<string | null>;
}

function answer(raw: string | null): "yes" | "no" | null {
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "yes" || v === "y") return "yes";
  if (v === "no" || v === "n") return "no";
  return null;
}

/** Resolves when the user agreed; throws DeclinedError ("Cancelled; nothing changed.") otherwise. */
export async function confirmOrCancel(
  question: string,
  yes: boolean,
  deps: { io: IO; prompt: Prompt },
): Promise<void> {
  const { io } = deps;
  if (yes) {
    io.err.write(`${question} yes (--yes)\n`);
    return;
  }
  if (io.interactive) {
    for (;;) {
      const raw = await deps.prompt.ask(question);
      if (raw === null) {
        io.err.write("\n"); // the cursor is still on the question's line
        throw new DeclinedError();
      }
      const a = answer(raw);
      if (a === "yes") return;
      if (a === "no") throw new DeclinedError();
      io.err.write("Please answer yes or no.\n");
    }
  }
  io.err.write(`${question} `);
  let line: string | null;
  try {
    line = await io.readLine();
  } catch (e) {
    if (e instanceof VgpuError) throw e;
    // stdin is a directory, or was closed under us: no answer can come (issue 21 item 7)
    io.err.write("\n");
    throw new VgpuError(
      `cannot read the answer from stdin (${
        describeFileError(e)
      }); nothing changed: answer on a terminal, pipe the answer in, or pass --yes`,
    );
  }
  io.err.write(line === null ? "(no answer: end of input)\n" : "\n");
  if (answer(line) !== "yes") throw new DeclinedError();
}
