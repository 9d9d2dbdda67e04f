import type { Priority } from "../../domain/types.ts";
import { parsePriority, parseUuid } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  RAW_COMMON,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SetPriorityOptions extends ReconfigureCommon {
  vmUuid: string;
  priority: Priority;
}

export function parseOptions(input: RawOptions): SetPriorityOptions {
  const raw = input.pick({ ...RAW_COMMON, vmUuid: "required", priority: "required" });
  return {
    ...parseCommon(raw),
    vmUuid: parseUuid(raw.vmUuid),
    priority: parsePriority(raw.priority),
  };
}

export function run(opts: SetPriorityOptions, deps: Deps): Promise<void> {
  return runReconfigure({ vmUuid: opts.vmUuid, priority: opts.priority }, opts, deps);
}

export const command = defineCommand({ parseOptions, run });
