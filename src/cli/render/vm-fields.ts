// How one VM's fields read in every layout and JSON shape, so all commands agree.
import { printable } from "../../domain/printable.ts";
import type { JournalEntry } from "../../domain/journal.ts";
import type { Paint } from "./style.ts";
import { buildDevice } from "../../domain/device-args.ts";
import { type Priority, priorityName, type Vm } from "../../domain/types.ts";
import type { VmJson } from "./json-types.ts";

export function vmLabel(vm: { vmName: string | null }): string {
  return vm.vmName === null ? "<no name>" : printable(vm.vmName);
}

/** `high (2)`, as scan-vms and the confirmation show it (seed 001). */
export function priorityLong(p: Priority): string {
  return `${priorityName(p)} (${p})`;
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The JSON form of a registered VM (docs/json.md "vm"). */
export function vmJson(vm: Vm): VmJson {
  return {
    vm_uuid: vm.vmUuid,
    vm_name: vm.vmName,
    pool_id: vm.pool,
    priority: priorityName(vm.priority),
    priority_value: vm.priority,
    vm_id: vm.vmId,
    device: buildDevice(vm),
    created_at: vm.createdAt,
    updated_at: vm.updatedAt,
  };
}

/**
 * `⚠ halted: it ran before the interrupted set-pool; …recover…` for a VM that should run: an
 * interrupted change stopped it and nothing started it again (kill -9). "" otherwise.
 */
export function haltedMark(
  e: JournalEntry,
  power: string,
  c: Paint,
  sep = " | ",
): string {
  if (power !== "halted" || e.original.power !== "running") return "";
  return `${sep}${
    c.warn(
      `⚠ halted: it ran before the interrupted ${e.command}; 'vgpu-admin recover --vm-uuid=${e.vmUuid}' starts it again`,
    )
  }`;
}
