import { parseUuid, parseVmId } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  type RawCommon,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";

export interface SetVmIdOptions extends ReconfigureCommon {
  vmUuid: string;
  vmId: number;
}

export function parseOptions(raw: RawCommon & { vmUuid: string; vmId: string }): SetVmIdOptions {
  return { ...parseCommon(raw), vmUuid: parseUuid(raw.vmUuid), vmId: parseVmId(raw.vmId) };
}

export function run(opts: SetVmIdOptions, deps: Deps): Promise<void> {
  return runReconfigure({ vmUuid: opts.vmUuid, vmId: opts.vmId }, opts, deps);
}
