import type { PoolId } from "../../domain/types.ts";
import { parsePoolId } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  RAW_COMMON,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";
import { requiredVmRef, resolveVm, type VmRef } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SetPoolOptions extends ReconfigureCommon {
  vm: VmRef;
  pool: PoolId;
}

export function parseOptions(input: RawOptions): SetPoolOptions {
  const raw = input.pick({ ...RAW_COMMON, pool: "required" });
  return { ...parseCommon(raw), vm: requiredVmRef(input), pool: parsePoolId(raw.pool) };
}

export async function run(opts: SetPoolOptions, deps: Deps): Promise<void> {
  const vmUuid = await resolveVm(opts.vm, deps, "registered");
  return runReconfigure({ vmUuid, pool: opts.pool }, opts, deps);
}

export const command = defineCommand({ parseOptions, run });
