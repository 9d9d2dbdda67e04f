// The screens of set-pool, set-priority, set-vm-id and update-vm: the seed 001 confirmation
// (current and new configuration, what the change will do to the VM) and the applied summary,
// from the op's plain results (ReconfigurePlan, ApplyResult) (issue 20 item 5).
import { priorityName, type VgpuConfig } from "../../domain/types.ts";
import type { ApplyResult, ReconfigurePlan } from "../../ops/reconfigure.ts";
import { priorityLong, vmLabel } from "./vm-fields.ts";

function configLines(title: string, c: VgpuConfig): string[] {
  return [
    `${title}:`,
    `  Pool: ${c.pool}`,
    `  Priority: ${priorityLong(c.priority)}`,
    `  VM ID: ${c.vmId}`,
  ];
}

/** The request changes nothing the database holds. */
export function unchangedLine(plan: ReconfigurePlan): string {
  const vm = plan.vm;
  return `VM ${vm.vmUuid} already has vGPU pool ${vm.pool}, priority ${
    priorityName(vm.priority)
  }, VM ID ${vm.vmId}; nothing changed.`;
}

/** What is shown before the question (seed 001): the VM, both configurations, the consequence. */
export function confirmationLines(plan: ReconfigurePlan): string[] {
  const power = plan.host!.powerState;
  const inherited = plan.inherited;
  return [
    `VM ${plan.vm.vmUuid} (${vmLabel(plan.vm)}), ${power}`,
    "",
    ...configLines("Current configuration", plan.vm),
    "",
    ...configLines("New configuration", plan.next),
    "",
    plan.running && power !== "running"
      ? `The VM ran until the clean shutdown of an earlier ${inherited!.command} (pid ${
        inherited!.pid
      }) stopped it; it will be started again.`
      : plan.running
      ? "This change requires stopping and restarting the VM."
      : "The change applies at the VM's next start.",
    ...(plan.elsewhere === null ? [] : [
      `The VM runs on host ${plan.elsewhere.name}; it will be started on this host (${
        plan.localName ?? "this host"
      }), whose GPU vgpu-admin configures. If it cannot start here, it is started on ${plan.elsewhere.name} again.`,
    ]),
  ];
}

/** After the change: where the VM is now, its args, and whether it runs with them. */
export function appliedLines(r: ApplyResult): string[] {
  return [
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
  ];
}
