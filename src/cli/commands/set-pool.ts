import type { PoolId } from "../../domain/types.ts";
import { parsePoolId, parseUuid } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  RAW_COMMON,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SetPoolOptions extends ReconfigureCommon {
  vmUuid: string;
  pool: PoolId;
}

export function parseOptions(input: RawOptions): SetPoolOptions {
  const raw = input.pick({ ...RAW_COMMON, vmUuid: "required", pool: "required" });
  return { ...parseCommon(raw), vmUuid: parseUuid(raw.vmUuid), pool: parsePoolId(raw.pool) };
}

export function run(opts: SetPoolOptions, deps: Deps): Promise<void> {
  return runReconfigure({ vmUuid: opts.vmUuid, pool: opts.pool }, opts, deps);
}

export const command = defineCommand({ parseOptions, run });
