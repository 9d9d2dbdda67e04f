import { UsageError, VgpuError } from "../../domain/errors.ts";
import { parseUuid } from "../../domain/validate.ts";
import { appendHookLog, DEFAULT_HOOK_LOG } from "../../ops/hook-log.ts";
import { checkVmStart, type HookResult } from "../../ops/startup-hook.ts";
import type { Deps } from "../deps.ts";
import type { Outcome } from "../outcome.ts";
import { defineCommand, type RawOptions } from "../command.ts";

/** End to end the hook finishes within 15 s whatever happens (design.md §4); margin kept for exit. */
export const HOOK_BOUND_MS = 14_000;
/** At most this much of the process's age counts as its start-up (deno start, module load). */
const STARTUP_ALLOWANCE_MS = 3_000;

export interface StartupHookOptions {
  /** null: the given uuid is malformed (`malformed` says why); the run is logged, then refused. */
  vmUuid: string | null;
  /** The uuid as given, made safe for the log line. */
  given: string;
  malformed: string | null;
  reason: string;
}

const logSafe = (s: string, max: number) => s.replace(/[^\w.-]/g, "?").slice(0, max);

export function parseOptions(input: RawOptions): StartupHookOptions {
  const raw = input.pick({ vmUuid: "required", reason: "text" });
  const reason = logSafe(raw.reason ?? "none", 32);
  const given = logSafe(raw.vmUuid, 64);
  try {
    return { vmUuid: parseUuid(raw.vmUuid), given, malformed: null, reason };
  } catch (e) {
    // Never exit 2 from the hook for bad input: 2 would abort the VM start (design.md §4).
    if (e instanceof UsageError) return { vmUuid: null, given, malformed: e.message, reason };
    throw e;
  }
}

export async function run(opts: StartupHookOptions, deps: Deps): Promise<Outcome> {
  // The bound includes this process's start-up, but a process that has lived longer than any
  // start-up (an in-process caller such as the tests) must not find its bound already spent.
  const startup = Math.min(Math.round(performance.now()), STARTUP_ALLOWANCE_MS);
  const deadline = deps.now().getTime() + HOOK_BOUND_MS - startup;
  const logPath = deps.env.get("VGPU_LOG") || DEFAULT_HOOK_LOG;
  const log = (action: string, result: string, detail: string) => {
    const line =
      `${deps.now().toISOString()} vm=${opts.given} reason=${opts.reason} action=${action} result=${result} ${detail}`;
    const problem = appendHookLog(logPath, line);
    if (problem !== null) deps.io.err.write(`warning: cannot write ${logPath}: ${problem}\n`);
  };
  if (opts.vmUuid === null) {
    // a refused run leaves its line too: the log is where an administrator looks (issue 11)
    const msg = `startup-hook: ${opts.malformed}`;
    log("malformed", "failed", msg.replace(/\s+/g, " "));
    throw new VgpuError(msg);
  }
  const vmUuid = opts.vmUuid;
  let r: HookResult;
  try {
    const store = await deps.store();
    r = await checkVmStart(store, await deps.xeUntil(deadline), await deps.settings(), vmUuid);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log("error", "failed", msg.replace(/\s+/g, " "));
    throw e;
  }
  const result = r.refuse
    ? "refused"
    : r.action === "in-sync" || r.action === "unregistered"
    ? "ok"
    : "warning";
  log(r.action, result, r.detail);
  if (result !== "ok") {
    deps.io.err.write(`vgpu-admin startup-hook: VM ${vmUuid}: ${r.detail}\n`);
  }
  if (!r.refuse) return undefined;
  // The hook script blocks the start only on exit 2 together with this line (design.md §4).
  deps.io.out.write(`${refusalMarker(opts.vmUuid)}\n`);
  return "refused";
}

/** The stdout line that, with exit code 2, tells hooks/vm-pre-start/10-vgpu-admin to refuse. */
export function refusalMarker(vmUuid: string): string {
  return `VGPU-ADMIN-STRICT-REFUSAL vm=${vmUuid}`;
}

export const command = defineCommand({ parseOptions, run });
