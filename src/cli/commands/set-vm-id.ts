import { parseUuid, parseVmId } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  RAW_COMMON,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SetVmIdOptions extends ReconfigureCommon {
  vmUuid: string;
  vmId: number;
}

export function parseOptions(input: RawOptions): SetVmIdOptions {
  const raw = input.pick({ ...RAW_COMMON, vmUuid: "required", vmId: "required" });
  return { ...parseCommon(raw), vmUuid: parseUuid(raw.vmUuid), vmId: parseVmId(raw.vmId) };
}

export function run(opts: SetVmIdOptions, deps: Deps): Promise<void> {
  return runReconfigure({ vmUuid: opts.vmUuid, vmId: opts.vmId }, opts, deps);
}

export const command = defineCommand({ parseOptions, run });
