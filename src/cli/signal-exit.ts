// What SIGINT, SIGTERM, SIGHUP and SIGQUIT do while nothing holds them (a change's apply phase
// and the yes/no question do: signal-hold.ts): what they always did, vgpu-admin ends by that signal (a shell script's
// loop stops on Ctrl-C as it should), but first the xe reads under way end with it, their
// processes and children (src/xe/live-reads.ts). Installed by the process (main.ts, then Deps),
// never by an in-process caller such as the tests.
import { liveReads } from "../xe/live-reads.ts";
import { killTree } from "../xe/spawn.ts";
import type { CaughtSignal } from "./exit-code.ts";
import { signalHeld } from "./signal-hold.ts";

const SIGNALS: readonly CaughtSignal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];
const SIGNO: Record<CaughtSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

const listeners = new Map<CaughtSignal, () => void>();

/**
 * From now on a signal ends the xe reads under way, then this process by that same signal;
 * unless something holds the signals (signal-hold.ts): then that decides.
 */
export function endReadsOnSignal(): void {
  if (listeners.size > 0) return;
  for (const sig of SIGNALS) {
    const h = () => {
      if (signalHeld(sig)) return;
      for (const child of liveReads()) killTree(child);
      // with no listener left the signal's default comes back: die by it, as without us
      for (const [s, l] of listeners) Deno.removeSignalListener(s, l);
      listeners.clear();
      Deno.kill(Deno.pid, sig);
      // Deno acts on it from its own thread: hold this one meanwhile, or the command would go
      // on, meet its killed reads as an xe failure and exit 1 before the signal ends it
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2_000);
      Deno.exit(128 + SIGNO[sig]); // not ended by then: the signal's exit code all the same
    };
    listeners.set(sig, h);
    try {
      Deno.addSignalListener(sig, h);
    } catch { /* a platform without it: the default stays */ }
  }
}

/**
 * A signal that came while the program waited for nothing reaches its listener now, which ends
 * vgpu-admin by it: Deno runs a listener only when the program next waits, and a read command's
 * last part (the drift, the output written) waits for nothing, so a Ctrl-C there was lost (the
 * command ended 0, and a shell loop around it went on). Eight turns of Deno's event loop, each an
 * empty write (~1 ms in all): the signal reaches the listener a turn or two after it is seen, and
 * with two turns, under the test suite's load, it was missed 4 times in 10 (tests/
 * read_signals_test.ts); with four, never in 12. Nothing to do without listeners (a command that
 * never read from xe: the signal's default ended it at once).
 */
export async function settleSignals(): Promise<void> {
  if (listeners.size === 0) return;
  for (let turn = 0; turn < 8; turn++) {
    try {
      await Deno.stdout.write(new Uint8Array(0));
    } catch {
      // stdout gone (`| head`): the turn was taken all the same
    }
  }
}
