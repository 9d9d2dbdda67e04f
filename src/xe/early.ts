// An xe call spawned before anything else of a command (issue 19: scan-vms' vm-list, see
// cli/early-scan.ts; issue 17: pool status's three reads, cli/early-pool.ts): before the
// command's modules load and the database opens (whose settings give xe its time bound), so
// that xe runs meanwhile. The xe runner takes the call over (XeRunnerConfig.early) when the
// command asks for the same argv, counting the bound from this spawn; a call nobody took over is
// killed (tree and all) before the process exits, whichever error came first. xe's path comes
// from VGPU_XE or PATH, never the database. Its imports are leaves (spawn.ts, live-reads.ts,
// read-argv.ts): the spawn comes before any other module of ours loads.
import type { EarlyCall } from "./runner.ts";
import { killTree, spawnProcess } from "./spawn.ts";
import { trackRead } from "./live-reads.ts";

/** An early call, taken over by the runner or released (killed) at exit. */
export interface EarlyXe extends EarlyCall {
  /** Kills the call unless a runner took it over, and waits for it to end. */
  release(): Promise<void>;
}

export interface EarlyOptions {
  /**
   * Calls that only read: xe stays in our process group (spawn.ts), a plain spawn instead of a
   * fork of this whole process for its own session (~3× the wall time of a spawn here). The
   * session only shields xe calls that change something from the terminal's Ctrl-C or a
   * dropped SSH session; a read killed with us loses nothing.
   */
  readOnly?: boolean;
}

/**
 * Spawns `xe <args>` now (xe's path: VGPU_XE, else `xe` on PATH, as the runner finds it). A
 * failing spawn (xe missing) is kept and thrown when the runner takes the call over, in the
 * order the command would have met it (the runner names it as it names its own).
 */
export function startEarly(
  args: readonly string[],
  env: { get(name: string): string | undefined; all(): Record<string, string> },
  o: EarlyOptions = {},
): EarlyXe {
  const xePath = env.get("VGPU_XE") || "xe";
  const startedAt = performance.now();
  let child: Deno.ChildProcess | null = null;
  let failure: { error: unknown } | null = null;
  try {
    child = spawnProcess(xePath, args, env.all(), o.readOnly !== true);
    trackRead(child, args); // main.ts: a signal ends it (signal-exit.ts)
  } catch (e) {
    failure = { error: e };
  }
  let taken = false;
  return {
    take(path, asked) {
      if (taken || path !== xePath || !sameArgs(asked, args)) return null;
      taken = true;
      if (failure !== null) throw failure.error;
      return { child: child!, startedAt };
    },
    async release() {
      if (taken || child === null) return;
      taken = true;
      killTree(child);
      await child.status;
    },
  };
}

/**
 * Several calls spawned now, in this order (the longest answer first): each is taken over by
 * the run or stream of its own argv; release() ends every one nobody took.
 */
export function startEarlyAll(
  argvs: readonly (readonly string[])[],
  env: { get(name: string): string | undefined; all(): Record<string, string> },
  o: EarlyOptions = {},
): EarlyXe {
  const calls = argvs.map((args) => startEarly(args, env, o));
  return {
    take(path, asked) {
      for (const call of calls) {
        const taken = call.take(path, asked);
        if (taken !== null) return taken;
      }
      return null;
    },
    async release() {
      await Promise.all(calls.map((c) => c.release()));
    },
  };
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
