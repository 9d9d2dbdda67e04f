// What set-pool, set-priority, set-vm-id and update-vm share: the common options and the run of
// the §5 protocol (the seed 001 confirmation is laid out in render/reconfigure.ts). Each command
// file only parses its flags.
import { UsageError } from "../domain/errors.ts";
import { quote } from "../domain/validate.ts";
import {
  applyReconfigure,
  planReconfigure,
  recheckPlan,
  type ReconfigureRequest,
} from "../ops/reconfigure.ts";
import { APPLY_QUESTION, confirmOrCancel } from "./confirm.ts";
import type { Deps } from "./deps.ts";
import { writeLines } from "./io.ts";
import { createProgress } from "./progress.ts";
import { appliedLines, confirmationLines, unchangedLine } from "./render/reconfigure.ts";
import type { PooledChange } from "../ops/pool-change.ts";

export interface ReconfigureCommon {
  yes: boolean;
  /** undefined: the shutdown-timeout setting (default 120 s). */
  shutdownTimeoutS?: number;
  forceShutdown: boolean;
}

export interface RawCommon {
  yes?: boolean;
  shutdownTimeout?: string;
  forceShutdown?: boolean;
}

/** How the four commands read the common options (command.ts RawOptions.pick). */
export const RAW_COMMON = { yes: "flag", shutdownTimeout: "text", forceShutdown: "flag" } as const;

export function parseCommon(raw: RawCommon): ReconfigureCommon {
  let shutdownTimeoutS: number | undefined;
  if (raw.shutdownTimeout !== undefined) {
    const v = raw.shutdownTimeout.trim();
    if (!/^[1-9][0-9]{0,3}$/.test(v) || Number(v) > 3600) {
      throw new UsageError(
        `invalid --shutdown-timeout ${quote(raw.shutdownTimeout)}: seconds from 1 to 3600`,
      );
    }
    shutdownTimeoutS = Number(v);
  }
  return { yes: raw.yes === true, shutdownTimeoutS, forceShutdown: raw.forceShutdown === true };
}

export async function runReconfigure(
  req: ReconfigureRequest,
  common: ReconfigureCommon,
  deps: Deps,
): Promise<void> {
  const store = await deps.store();
  // pool mode (design.md §8): this host's lock, then the VM's pool-wide ticket and a fresh cache
  const { beginPooledChange } = await import("../ops/pool-change.ts");
  const pooled = await beginPooledChange(store, deps, req.vmUuid);
  try {
    await reconfigureSteps(req, common, deps, pooled);
  } finally {
    await pooled?.done();
  }
}

async function reconfigureSteps(
  req: ReconfigureRequest,
  common: ReconfigureCommon,
  deps: Deps,
  pooled: PooledChange | null,
): Promise<void> {
  const store = await deps.store();
  const plan = await planReconfigure(store, deps.xe, deps.locks(), req, deps.localHost());
  const out = deps.io.out;
  if (!plan.changed) {
    writeLines(out, [unchangedLine(plan)]);
    return;
  }
  writeLines(out, confirmationLines(plan));
  // a new vm_id is claimed pool-wide before the question (a conflict names its holder)
  await pooled?.claimNewVmId(plan.vm.vmUuid, plan.vm.vmId, plan.next.vmId);
  await confirmOrCancel(APPLY_QUESTION, common.yes, deps);
  const settings = await deps.settings();
  const xe = await deps.xe();
  // The question may have been open for a while: someone may have started, stopped or changed it.
  if (!common.yes) await recheckPlan(store, xe, plan);
  const progress = createProgress(deps.io, deps.clock);
  const r = await deps.interrupts.guard(() =>
    applyReconfigure(store, xe, plan, {
      shutdownTimeoutMs: (common.shutdownTimeoutS ?? settings.shutdownTimeoutS) * 1000,
      startTimeoutMs: settings.startTimeoutS * 1000,
      forceShutdown: common.forceShutdown,
      localHost: deps.localHost(),
      progress: progress.step,
      interrupted: deps.interrupts.received,
      command: deps.command,
      pid: Deno.pid,
      committed: pooled === null ? undefined : () => pooled.committed(plan.vm.vmUuid, plan.next),
      clock: deps.clock,
    }).finally(progress.done)
  );
  await pooled?.applied(r.vm.vmUuid, r.vm.vmId);
  writeLines(out, appliedLines(r));
}
