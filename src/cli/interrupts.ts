// SIGINT, SIGTERM and SIGHUP during the apply phase of a change (design.md §5 step 9): they do
// not kill the run; the first marks it interrupted (no new forward step starts, the operation is
// finished or undone), a second one is told that the VM is being put back. Outside a guarded
// phase the default applies (nothing was changed yet, so dying is safe).
import type { IO } from "./io.ts";

export type CaughtSignal = "SIGINT" | "SIGTERM" | "SIGHUP";
const SIGNALS: readonly CaughtSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export interface Interrupts {
  /** Runs `fn` with the three signals caught. */
  guard<T>(fn: () => Promise<T>): Promise<T>;
  /** The first signal caught, or null. */
  received(): CaughtSignal | null;
}

/** The exit code for a run ended by a signal: 128 + its number (130, 143, 129). */
export const SIGNAL_EXIT: Record<CaughtSignal, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export function createInterrupts(io: IO): Interrupts {
  let first: CaughtSignal | null = null;
  let depth = 0;
  const handlers = new Map<CaughtSignal, () => void>();
  const on = (sig: CaughtSignal) => () => {
    if (first === null) {
      first = sig;
      io.err.write(
        `\n${sig} received: finishing or undoing the change so that the VM is not left stopped; please wait...\n`,
      );
    } else {
      io.err.write(
        `${sig} received again: the VM is being put back in service (the change finished or undone); this ends on its own, please wait...\n`,
      );
    }
  };
  return {
    async guard(fn) {
      if (depth++ === 0) {
        for (const sig of SIGNALS) {
          const h = on(sig);
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
        }
      }
    },
    received: () => first,
  };
}
