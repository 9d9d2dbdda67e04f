// Exit codes, decided once (style.md rule 6): 0 ok, 1 failed or declined, 2 usage, 3 drift.
import { DeclinedError, UsageError, VgpuError } from "../domain/errors.ts";
import { printable } from "../domain/printable.ts";
import type { IO } from "./io.ts";

export const EXIT = { ok: 0, failed: 1, usage: 2, drift: 3 } as const;

/**
 * The exit code of a usage error in `command` (the one that the command line names, "" for none):
 * 2, except for startup-hook, which never exits 2 for one. Its 2 tells xapi that the strict mode
 * refuses the start (design.md §4), and a mistyped hook line must not refuse every start.
 */
export function usageExit(command: string): number {
  return command === "startup-hook" ? EXIT.failed : EXIT.usage;
}

export function oneLine(s: string): string {
  return s.trim().split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ");
}

/** The one place where an error becomes text and an exit code (style.md rule 6). */
export function exitCodeFor(e: unknown, io: IO, debug: boolean): number {
  if (e instanceof UsageError) {
    io.err.write(`error: ${printable(e.message)}\n`);
    return EXIT.usage;
  }
  if (e instanceof VgpuError) {
    const message = printable(e.message); // it may quote xe's stderr, a name, a path: one line
    io.err.write(e instanceof DeclinedError ? `${message}\n` : `error: ${message}\n`);
    return EXIT.failed;
  }
  const msg = e instanceof Error ? e.message : String(e);
  io.err.write(
    `bug: ${printable(oneLine(msg))} (please report it; VGPU_DEBUG=1 shows the stack)\n`,
  );
  if (debug && e instanceof Error && e.stack) io.err.write(e.stack + "\n");
  return EXIT.failed;
}

export type CaughtSignal = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGQUIT";

/** The exit code for a run ended by a signal: 128 + its number (130, 143, 129, 131). */
export const SIGNAL_EXIT: Record<CaughtSignal, number> = {
  SIGINT: 130,
  SIGTERM: 143,
  SIGHUP: 129,
  SIGQUIT: 131,
};
