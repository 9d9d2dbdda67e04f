// register-vm: what was registered and what it did to the VM's args, from the op's plain result
// (RegisterResult) (issue 20 item 5: ops return a view, render prints it).
import { buildDevice } from "../../domain/device-args.ts";
import { priorityName } from "../../domain/types.ts";
import type { RegisterResult } from "../../ops/register.ts";
import { vmLabel } from "./vm-fields.ts";

export function registeredLines(r: RegisterResult): string[] {
  const vm = r.vm;
  const lines = [
    `Registered VM ${vm.vmUuid} (${vmLabel(vm)}): vGPU pool ${vm.pool}, priority ${
      priorityName(vm.priority)
    }, VM ID ${vm.vmId}`,
  ];
  if (r.host === null) {
    lines.push(
      `Not written to the VM (--offline): run 'vgpu-admin sync' on the host to apply ${
        buildDevice(vm)
      }`,
    );
    return lines;
  }
  if (r.carried !== null) {
    // the VM's own values were the defaults: name each one a flag changed
    const c = r.carried;
    const carried = r.replaced[0]?.raw ?? buildDevice(c);
    const changes = [
      c.pool === vm.pool ? null : `vGPU pool ${c.pool} -> ${vm.pool}`,
      c.priority === vm.priority
        ? null
        : `priority ${priorityName(c.priority)} -> ${priorityName(vm.priority)}`,
      c.vmId === vm.vmId ? null : `VM ID ${c.vmId} -> ${vm.vmId}`,
    ].filter((x) => x !== null);
    lines.push(
      changes.length === 0
        ? `Kept the values of the vgpu-stub the VM carried: ${carried}`
        : `Changed on the VM: ${changes.join(", ")} (it carried ${carried})`,
    );
  } else {
    for (const old of r.replaced) lines.push(`The VM carried other vgpu-stub args: ${old.raw}`);
  }
  const wrote = r.argsAfter !== r.argsBefore;
  lines.push(
    wrote ? `Wrote platform args: ${r.argsAfter}` : `The VM already carries ${buildDevice(vm)}`,
  );
  if (r.host.powerState !== "halted" && wrote) {
    lines.push(
      `The VM is ${r.host.powerState}: it gets these args at its next start (restart it to apply).`,
    );
  }
  return lines;
}
