// SIGINT, SIGTERM, SIGHUP and SIGQUIT (Ctrl-\, issue 18 B8) during the apply phase of a change
// (design.md §5 step 9): they do not kill the run; the first marks it interrupted (no new forward
// step starts, the operation is finished or undone), a second one is told that the VM is being
// put back. Outside a guarded phase the default applies (nothing was changed yet, so dying is
// safe). Loaded only by a command that changes a VM: nothing of it is on the start hook's path.
import type { CaughtSignal } from "./exit-code.ts";
import type { IO } from "./io.ts";

const SIGNALS: readonly CaughtSignal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

let depth = 0;
let seen = false;
const handlers = new Map<CaughtSignal, () => void>();

/** Runs `fn` with the four signals caught; `mark` records the first one for the exit code. */
export async function guardSignals<T>(
  io: IO,
  mark: (sig: CaughtSignal) => void,
  fn: () => Promise<T>,
): Promise<T> {
  if (depth++ === 0) {
    for (const sig of SIGNALS) {
      const h = () => {
        if (!seen) {
          seen = true;
          mark(sig);
          io.err.write(
            `\n${sig} received: finishing or undoing the change so that the VM is not left stopped; please wait...\n`,
          );
        } else {
          io.err.write(
            `${sig} received again: the VM is being put back in service (the change finished or undone); this ends on its own, please wait...\n`,
          );
        }
      };
      handlers.set(sig, h);
      try {
        Deno.addSignalListener(sig, h);
      } catch { /* a platform without it: the default stays */ }
    }
  }
  try {
    return await fn();
  } finally {
    if (--depth === 0) {
      for (const [sig, h] of handlers) {
        try {
          Deno.removeSignalListener(sig, h);
        } catch { /* not installed */ }
      }
      handlers.clear();
      seen = false;
    }
  }
}
