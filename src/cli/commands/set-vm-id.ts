import { parseVmId } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  RAW_COMMON,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";
import { requiredVmRef, resolveVm, type VmRef } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SetVmIdOptions extends ReconfigureCommon {
  vm: VmRef;
  vmId: number;
}

export function parseOptions(input: RawOptions): SetVmIdOptions {
  const raw = input.pick({ ...RAW_COMMON, vmId: "required" });
  return { ...parseCommon(raw), vm: requiredVmRef(input), vmId: parseVmId(raw.vmId) };
}

export async function run(opts: SetVmIdOptions, deps: Deps): Promise<void> {
  const vmUuid = await resolveVm(opts.vm, deps, "registered");
  return runReconfigure({ vmUuid, vmId: opts.vmId }, opts, deps);
}

export const command = defineCommand({ parseOptions, run });
