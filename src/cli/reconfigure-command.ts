// What set-pool, set-priority, set-vm-id and update-vm share: the common options, the seed 001
// confirmation layout, and the run of the §5 protocol. Each command file only parses its flags.
import { UsageError } from "../domain/errors.ts";
import type { VgpuConfig } from "../domain/types.ts";
import { priorityName } from "../domain/types.ts";
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
import { priorityLong, vmLabel } from "./render/vm-fields.ts";
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

function configLines(title: string, c: VgpuConfig): string[] {
  return [
    `${title}:`,
    `  Pool: ${c.pool}`,
    `  Priority: ${priorityLong(c.priority)}`,
    `  VM ID: ${c.vmId}`,
  ];
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
    out.write(
      `VM ${plan.vm.vmUuid} already has vGPU pool ${plan.vm.pool}, priority ${
        priorityName(plan.vm.priority)
      }, VM ID ${plan.vm.vmId}; nothing changed.\n`,
    );
    return;
  }
  const host = plan.host!;
  writeLines(out, [
    `VM ${plan.vm.vmUuid} (${vmLabel(plan.vm)}), ${host.powerState}`,
    "",
    ...configLines("Current configuration", plan.vm),
    "",
    ...configLines("New configuration", plan.next),
    "",
    plan.running && host.powerState !== "running"
      ? `The VM ran until the clean shutdown of an earlier ${plan.inherited!.command} (pid ${
        plan.inherited!.pid
      }) stopped it; it will be started again.`
      : plan.running
      ? "This change requires stopping and restarting the VM."
      : "The change applies at the VM's next start.",
    ...(plan.elsewhere === null ? [] : [
      `The VM runs on host ${plan.elsewhere.name}; it will be started on this host (${
        plan.localName ?? "this host"
      }), whose GPU vgpu-admin configures. If it cannot start here, it is started on ${plan.elsewhere.name} again.`,
    ]),
  ]);
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
  writeLines(out, [
    `Applied: VM ${r.vm.vmUuid} is in vGPU pool ${r.vm.pool}, priority ${
      priorityName(r.vm.priority)
    }, VM ID ${r.vm.vmId}.`,
    `Platform args: ${r.argsAfter}`,
    r.restarted
      ? "The VM was restarted and runs with the new configuration."
      : "The VM is halted; it gets the new configuration at its next start.",
    ...(r.finishedAfter === null ? [] : [
      `(${r.finishedAfter} arrived after the new configuration was written: the change was finished, not undone.)`,
    ]),
  ]);
}
