import { printable } from "../../domain/printable.ts";
import { humanTime } from "../../domain/time.ts";
import { buildDevice } from "../../domain/device-args.ts";
import { hostError, scan } from "../../ops/scan.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { hostWarning } from "../host-warning.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { showVmJson } from "../render/scan.ts";
import { paint } from "../render/style.ts";
import { haltedMark, priorityLong, vmLabel } from "../render/vm-fields.ts";
import { interruptedView } from "../interrupted.ts";
import { requiredVmRef, resolveVm, type VmRef } from "../vm-ref.ts";
import { fitLines } from "../render/fit.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ShowVmOptions {
  vm: VmRef;
  offline: boolean;
  format: Format;
}

export function parseOptions(input: RawOptions): ShowVmOptions {
  const raw = input.pick({ offline: "flag", format: "text" });
  return {
    vm: requiredVmRef(input),
    offline: raw.offline === true,
    format: parseFormat(raw.format),
  };
}

export async function run(opts: ShowVmOptions, deps: Deps): Promise<Outcome> {
  const store = await deps.store();
  const vm = store.requireVm(await resolveVm(opts.vm, deps, "registered"));
  const view = await scan({
    store,
    xe: deps.xe,
    offline: opts.offline,
    localHostUuid: deps.localHost(),
    vmUuid: vm.vmUuid,
  });
  const state = view.host.kind === "read" ? view.host.drift.byUuid.get(vm.vmUuid) ?? null : null;
  const c = paint(deps.io.color);
  const json = opts.format === "json";
  const interrupted = interruptedView(store, deps, c, { json, vmUuid: vm.vmUuid });
  const open = interrupted.entries.find((e) => e.vmUuid === vm.vmUuid);
  if (json) {
    writeJson(deps.io.out, showVmJson(view, vm, store.getPool(vm.pool).name));
    return hostWarning(deps, hostError(view));
  }
  const lines = [
    c.bold(`VM: ${vmLabel(vm)}`),
    `  UUID:        ${vm.vmUuid}`,
    `  vGPU pool:   ${vm.pool} (${JSON.stringify(store.getPool(vm.pool).name)})`,
    `  Priority:    ${priorityLong(vm.priority)}`,
    `  VM ID:       ${vm.vmId}`,
    `  Device args: ${buildDevice(vm)}`,
    `  Created:     ${humanTime(vm.createdAt)}`,
    `  Updated:     ${humanTime(vm.updatedAt)}`,
  ];
  if (state !== null) {
    const h = state.host;
    lines.push("Host:");
    if (h === null) lines.push(`  ${c.bad("✗")} the host has no VM with this uuid`);
    else {
      lines.push(
        `  Name-label:  ${printable(h.nameLabel)}`,
        `  Power:       ${h.powerState}${
          open === undefined ? "" : haltedMark(open, h.powerState, c, "; ")
        }`,
      );
      lines.push(
        `  Args on VM:  ${h.deviceModelArgs === null ? "(none)" : printable(h.deviceModelArgs)}`,
      );
      // never "✓ in sync" under an interrupted change of this VM (its args may be half written)
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
  }
  writeLines(deps.io.out, fitLines([...interrupted.lines, ...lines], deps.io.columns ?? null));
  return hostWarning(deps, hostError(view));
}

export const command = defineCommand({ parseOptions, run });
