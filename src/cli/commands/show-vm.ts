import { hostError, scan } from "../../ops/scan.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { hostWarning } from "../host-warning.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { showVmJson } from "../render/scan.ts";
import { paint } from "../render/style.ts";
import { showVmLines } from "../render/show-vm.ts";
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
  const c = paint(deps.io.color);
  const json = opts.format === "json";
  const interrupted = interruptedView(store, deps, c, { json, vmUuid: vm.vmUuid });
  const open = interrupted.entries.find((e) => e.vmUuid === vm.vmUuid);
  if (json) {
    writeJson(deps.io.out, showVmJson(view, vm, store.getPool(vm.pool).name));
    return hostWarning(deps, hostError(view));
  }
  const lines = showVmLines(view, vm, store.getPool(vm.pool).name, open, c);
  writeLines(deps.io.out, fitLines([...interrupted.lines, ...lines], deps.io.columns ?? null));
  return hostWarning(deps, hostError(view));
}

export const command = defineCommand({ parseOptions, run });
