// show-vm: the database's configuration of one VM, then what the host says of it (name, power,
// args, drift, a stale run), from the scan's plain view (issue 20 item 5). The JSON shape is
// render/scan.ts showVmJson.
import { buildDevice } from "../../domain/device-args.ts";
import type { JournalEntry } from "../../domain/journal.ts";
import { printable } from "../../domain/printable.ts";
import { humanTime } from "../../domain/time.ts";
import type { Vm } from "../../domain/types.ts";
import type { ScanView } from "../../ops/scan.ts";
import type { Paint } from "./style.ts";
import { haltedMark, priorityLong, vmLabel } from "./vm-fields.ts";

/**
 * `open`: this VM's interrupted operation, if any: its VM may be halted by it, and it is never
 * shown "in sync" (its args may be half written).
 */
export function showVmLines(
  view: ScanView,
  vm: Vm,
  poolName: string,
  open: JournalEntry | undefined,
  c: Paint,
): string[] {
  const lines = [
    c.bold(`VM: ${vmLabel(vm)}`),
    `  UUID:        ${vm.vmUuid}`,
    `  vGPU pool:   ${vm.pool} (${JSON.stringify(poolName)})`,
    `  Priority:    ${priorityLong(vm.priority)}`,
    `  VM ID:       ${vm.vmId}`,
    `  Device args: ${buildDevice(vm)}`,
    `  Created:     ${humanTime(vm.createdAt)}`,
    `  Updated:     ${humanTime(vm.updatedAt)}`,
  ];
  const state = view.host.kind === "read" ? view.host.drift.byUuid.get(vm.vmUuid) ?? null : null;
  if (state === null) return lines;
  const h = state.host;
  lines.push("Host:");
  if (h === null) lines.push(`  ${c.bad("✗")} the host has no VM with this uuid`);
  else {
    lines.push(
      `  Name-label:  ${printable(h.nameLabel)}`,
      `  Power:       ${h.powerState}${
        open === undefined ? "" : haltedMark(open, h.powerState, c, "; ")
      }`,
      `  Args on VM:  ${h.deviceModelArgs === null ? "(none)" : printable(h.deviceModelArgs)}`,
    );
    if (state.drift.length === 0 && open === undefined) {
      lines.push(`  ${c.ok("✓")} in sync with the database`);
    }
  }
  for (const d of state.drift) lines.push(`  ${c.warn("⚠")} ${d.detail} -> fix: ${d.fix}`);
  const stale = view.staleRuns.get(vm.vmUuid);
  if (stale !== undefined) {
    lines.push(
      `  ${c.warn("⚠")} running with stale vGPU args since ${
        humanTime(stale.since)
      }: restart to apply`,
    );
  }
  return lines;
}
