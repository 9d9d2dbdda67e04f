import type { Priority } from "../../domain/types.ts";
import { parsePriority } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  RAW_COMMON,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";
import { requiredVmRef, resolveVm, type VmRef } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SetPriorityOptions extends ReconfigureCommon {
  vm: VmRef;
  priority: Priority;
}

export function parseOptions(input: RawOptions): SetPriorityOptions {
  const raw = input.pick({ ...RAW_COMMON, priority: "required" });
  return {
    ...parseCommon(raw),
    vm: requiredVmRef(input),
    priority: parsePriority(raw.priority),
  };
}

export async function run(opts: SetPriorityOptions, deps: Deps): Promise<void> {
  const vmUuid = await resolveVm(opts.vm, deps, "registered");
  return runReconfigure({ vmUuid, priority: opts.priority }, opts, deps);
}

export const command = defineCommand({ parseOptions, run });
