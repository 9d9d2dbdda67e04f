// Which signals something holds now: a change's apply phase holds all four (interrupts.ts,
// through Deps.interrupts.guard). While one is held its holder decides what it does, and
// signal-exit.ts leaves it alone. (The yes/no question's own SIGINT listener needs no hold: the
// signal raised again by signal-exit.ts meets that listener and is a "no", as the first was.)
import type { CaughtSignal } from "./exit-code.ts";

const held = new Map<CaughtSignal, number>();

/** Holds `signals` until the returned function is called (once). */
export function holdSignals(signals: readonly CaughtSignal[]): () => void {
  for (const s of signals) held.set(s, (held.get(s) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const s of signals) held.set(s, held.get(s)! - 1);
  };
}

/** True while something holds `signal`. */
export function signalHeld(signal: CaughtSignal): boolean {
  return (held.get(signal) ?? 0) > 0;
}
