import type { Priority } from "../../domain/types.ts";
import { parsePriority, parseUuid } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  type RawCommon,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";

export interface SetPriorityOptions extends ReconfigureCommon {
  vmUuid: string;
  priority: Priority;
}

export function parseOptions(
  raw: RawCommon & { vmUuid: string; priority: string },
): SetPriorityOptions {
  return {
    ...parseCommon(raw),
    vmUuid: parseUuid(raw.vmUuid),
    priority: parsePriority(raw.priority),
  };
}

export function run(opts: SetPriorityOptions, deps: Deps): Promise<void> {
  return runReconfigure({ vmUuid: opts.vmUuid, priority: opts.priority }, opts, deps);
}
