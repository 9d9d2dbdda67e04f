/**
 * The subprocess fake xe (fake-xe.ts, same state file, same faults, same pool semantics with
 * FAKE_XE_HOST per host) run inside the test process as an XeRunner: what `runInProcess` gives
 * vgpu-admin when its environment names the fake xe. The runner's contract is kept: argv checked
 * as the real runner checks it, a failure classified from exit code and stderr, and a call that
 * would not answer within its time bound is an XeTimeoutError — at once, with no real waiting
 * (the bound is what the real runner would have waited before killing the process; nothing in
 * vgpu-admin measures that wait, and tests assert no timings). Each call logs a pid of its own,
 * so the call log pairs calls with exits as it does for processes.
 *
 * What needs a real process stays on the subprocess fake (runCli/spawnCli, or runInProcess's
 * `subprocessXe`): kills of xe's process tree, orphans, hook scripts that outlive a killed xe.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { XeTimeoutError } from "../../src/domain/errors.ts";
import { createXeRunner, type XeRunner, type XeRunnerConfig } from "../../src/xe/runner.ts";
import { classifyXeFailure } from "../../src/xe/parse.ts";
import { type CallContext, fakeXeCall, setCallContext } from "./fake-xe.ts";
import { FAKE_XE_PATH } from "./state.ts";

const calls = new AsyncLocalStorage<CallContext>();
setCallContext(() => calls.getStore() ?? { caller: undefined, pid: Deno.pid });

/** Synthetic pids for in-process calls: above any real pid (pid_max is at most 2^22). */
let nextPid = 1 << 23;

/** The in-process fake xe for `statePath`, called from host `caller` (pool fakes). */
export function inProcessFakeXe(
  statePath: string,
  o: { caller?: string; defaultTimeoutMs: number },
): XeRunner {
  return {
    async run(args, ro) {
      const timeoutMs = ro?.timeoutMs ?? o.defaultTimeoutMs;
      // the real runner's refusals (a line break or NUL in an argument): same code, same error
      await refuseLikeTheRunner(args);
      const ctx: CallContext = { caller: o.caller, pid: nextPid++, waitLimitMs: timeoutMs };
      const outcome = await calls.run(ctx, () => fakeXeCall(statePath, [...args]));
      if (outcome === "hang") {
        throw new XeTimeoutError(
          `xe ${args[0] ?? ""} did not answer within ${timeoutMs / 1000} s`,
          args,
          timeoutMs,
        );
      }
      if (outcome.code !== 0) throw classifyXeFailure(args, outcome.code, outcome.stderr);
      return outcome.stdout;
    },
  };
}

/**
 * runInProcess's runner: the in-process fake when `VGPU_XE` names the fake xe, otherwise the
 * product's own runner (a test's own `xe` script, a missing xe).
 */
export function fakeOrRealRunner(
  cfg: { defaultTimeoutMs: number; env: Record<string, string> },
): XeRunner {
  const e = cfg.env;
  if (e.VGPU_XE === FAKE_XE_PATH && e.FAKE_XE_STATE) {
    return inProcessFakeXe(e.FAKE_XE_STATE, {
      caller: e.FAKE_XE_HOST || undefined,
      defaultTimeoutMs: cfg.defaultTimeoutMs,
    });
  }
  const real: XeRunnerConfig = {
    xePath: e.VGPU_XE || "xe",
    defaultTimeoutMs: cfg.defaultTimeoutMs,
    env: e,
  };
  return createXeRunner(real);
}

async function refuseLikeTheRunner(args: readonly string[]): Promise<void> {
  // the product's runner checks before it spawns: over a path that cannot exist, a call with
  // such an argument is refused (VgpuError) and never reaches the spawn
  if (args.some((a) => a.includes("\n") || a.includes("\r") || a.includes("\0"))) {
    await createXeRunner({ xePath: "/nonexistent/xe", defaultTimeoutMs: 1 }).run(args);
  }
}
