// Which signals something holds now: a change's apply phase holds all four (interrupts.ts,
// through Deps.interrupts.guard), the terminal's yes/no question SIGINT (process-io.ts: Ctrl-C
// means no). While one is held its holder decides what it does, and signal-exit.ts leaves it
// alone: otherwise its raising the signal again could land after the question's listener is
// gone, and a Ctrl-C at the question killed the run (exit 130) instead of answering no. Only a
// type import: process-io.ts, on every command's path, loads this module.
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
