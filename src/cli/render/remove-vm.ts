// remove-vm: the question and what the removal did to the VM's args, from the registered row
// and the op's plain result (RemoveResult) (issue 20 item 5: ops return a view, render prints it).
import type { Vm } from "../../domain/types.ts";
import type { RemoveResult } from "../../ops/remove.ts";
import { vmLabel } from "./vm-fields.ts";

export function removeQuestion(vm: Vm): string {
  return `Remove VM ${vm.vmUuid} (${
    vmLabel(vm)
  }, vGPU pool ${vm.pool}, VM ID ${vm.vmId}) from vgpu-admin? (yes/no):`;
}

export function removedLines(r: RemoveResult, offline: boolean): string[] {
  const lines = [`Removed VM ${r.vm.vmUuid} (${vmLabel(r.vm)}) from the database.`];
  if (offline) lines.push("Its args were left as they are (--offline).");
  else if (r.hostMissing) {
    lines.push("The host has no VM with this uuid: only the database row was removed.");
  } else if (r.argsBefore === r.argsAfter) lines.push("Its args carried no vgpu-stub device.");
  else {
    lines.push(
      r.argsAfter === null
        ? "Removed its vgpu-stub device; nothing else was left, so the platform key was removed."
        : `Removed its vgpu-stub device; its args are now: ${r.argsAfter}`,
    );
    if (r.host !== null && r.host.powerState !== "halted") {
      lines.push(`The VM is ${r.host.powerState} and keeps its vGPU device until its next start.`);
    }
  }
  return lines;
}
