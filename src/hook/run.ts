// One run of a VM hook (design.md §4, §8): read the VM's args, decide (ops/startup-hook.ts), write
// what the decision says, log one line, and say whether strict mode refuses. Shared by the
// dedicated entry point (src/hook/main.ts, the installed hooks' path) and the `startup-hook`
// command of the full CLI (src/cli/commands/startup-hook.ts); each brings its own ports.
import { VgpuError } from "../domain/errors.ts";
import type { Xe } from "../xe/client.ts";
import type { Settings } from "../domain/settings.ts";
import { appendHookLog } from "../ops/hook-log.ts";
import {
  type HookEvent,
  type HookPlan,
  type HookRegistry,
  planHook,
  refusalMarker,
} from "../ops/startup-hook.ts";
import { loadSlow } from "./slow-path.ts";

/** End to end the hook finishes within 15 s whatever happens (design.md §4); the hook script
 * sends SIGTERM at 13 s and SIGKILL at 14 s, this leaves the program the time to log. */
export const HOOK_BOUND_MS = 12_000;
/** At most this much of the process's age counts as its start-up (deno start, module load). */
const STARTUP_ALLOWANCE_MS = 3_000;

export interface HookRequest {
  event: HookEvent;
  /** null: the given uuid is malformed (`malformed` says why); the run is logged, then fails. */
  vmUuid: string | null;
  /** The uuid as given, made safe for the log line. */
  given: string;
  malformed: string | null;
  reason: string;
}

/** What a hook run reaches outside itself. */
export interface HookPorts {
  now(): Date;
  logPath: string;
  err(text: string): void;
  out(text: string): void;
  /** The database, opened for reading (and its settings; pool mode's raw `pool:state` row). */
  open(): Promise<{ registry: HookRegistry; settings: Settings; poolState?: string | null }>;
  /** platform:<key> of the VM (null: no such key), within `deadline` (epoch ms). */
  readArgs(vmUuid: string, settings: Settings, deadline: number): Promise<string | null>;
  /** Writes the VM's args, read back when the answer is lost, within `deadline`. */
  writeArgs(vmUuid: string, args: string, settings: Settings, deadline: number): Promise<void>;
  /** Writes the stale-run record (mark with a reason, or clear). */
  writeStale(vmUuid: string, change: { mark: string } | "clear"): Promise<void>;
  /** Pool mode only: an xe client bounded by `deadline` for the pool's claims and hosts. */
  xe?(settings: Settings, deadline: number): Promise<Xe>;
}

const logSafe = (s: string, max: number) => s.replace(/[^\w.-]/g, "?").slice(0, max);

export function logSafeReason(raw: string | undefined): string {
  return logSafe(raw ?? "none", 32);
}

export function logSafeUuid(raw: string): string {
  return logSafe(raw, 64);
}

/** Runs the hook; "refused" when strict mode refuses (exit 2); throws VgpuError on a failure. */
export async function runHook(req: HookRequest, ports: HookPorts): Promise<"ok" | "refused"> {
  // The bound includes this process's start-up, but a process that has lived longer than any
  // start-up (an in-process caller such as the tests) must not find its bound already spent.
  const startup = Math.min(Math.round(performance.now()), STARTUP_ALLOWANCE_MS);
  const deadline = ports.now().getTime() + HOOK_BOUND_MS - startup;
  const hookField = req.event === "vm-pre-start" ? "" : ` hook=${req.event}`;
  const log = (action: string, result: string, detail: string) => {
    const line =
      `${ports.now().toISOString()} vm=${req.given}${hookField} reason=${req.reason} action=${action} result=${result} ${detail}`;
    const problem = appendHookLog(ports.logPath, line);
    if (problem !== null) ports.err(`warning: cannot write ${ports.logPath}: ${problem}\n`);
  };
  if (req.vmUuid === null) {
    // a refused run leaves its line too: the log is where an administrator looks (issue 11)
    const msg = `startup-hook: ${req.malformed}`;
    log("malformed", "failed", msg.replace(/\s+/g, " "));
    throw new VgpuError(msg);
  }
  const vmUuid = req.vmUuid;
  let plan: HookPlan;
  try {
    const { registry, settings, poolState } = await ports.open();
    const args = await ports.readArgs(vmUuid, settings, deadline);
    plan = planHook(req.event, registry, settings, vmUuid, args);
    if (poolState && ports.xe !== undefined) {
      // pool mode (design.md §8): loaded only there; standalone runs exactly as before
      const xe = ports.xe;
      plan = await (await loadSlow()).poolHookPlan(req.event, plan, {
        poolState,
        vmUuid,
        args,
        settings,
        xe: () => xe(settings, deadline),
      });
    }
    if (plan.repair !== null) await ports.writeArgs(vmUuid, plan.repair, settings, deadline);
    if (plan.stale !== null) await ports.writeStale(vmUuid, plan.stale);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log("error", "failed", msg.replace(/\s+/g, " "));
    throw e;
  }
  const ok = plan.action === "in-sync" || plan.action === "unregistered" ||
    plan.action === "arrived";
  const result = plan.refuse ? "refused" : ok ? "ok" : "warning";
  log(plan.action, result, plan.detail);
  if (result !== "ok") ports.err(`vgpu-admin ${req.event}: VM ${vmUuid}: ${plan.detail}\n`);
  if (!plan.refuse) return "ok";
  // The hook script blocks the start only on exit 2 together with this line (design.md §4).
  ports.out(`${refusalMarker(vmUuid)}\n`);
  return "refused";
}
