import { UsageError } from "../../domain/errors.ts";
import type { PoolId, Priority } from "../../domain/types.ts";
import { parsePoolId, parsePriority, parseVmId } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  RAW_COMMON,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";
import { requiredVmRef, resolveVm, type VmRef } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface UpdateVmOptions extends ReconfigureCommon {
  vm: VmRef;
  pool?: PoolId;
  priority?: Priority;
  vmId?: number;
}

export function parseOptions(input: RawOptions): UpdateVmOptions {
  const raw = input.pick({
    ...RAW_COMMON,
    pool: "text",
    priority: "text",
    vmId: "text",
  });
  if (raw.pool === undefined && raw.priority === undefined && raw.vmId === undefined) {
    throw new UsageError("update-vm needs at least one of --pool, --priority, --vm-id");
  }
  return {
    ...parseCommon(raw),
    vm: requiredVmRef(input),
    pool: raw.pool === undefined ? undefined : parsePoolId(raw.pool),
    priority: raw.priority === undefined ? undefined : parsePriority(raw.priority),
    vmId: raw.vmId === undefined ? undefined : parseVmId(raw.vmId),
  };
}

export async function run(opts: UpdateVmOptions, deps: Deps): Promise<void> {
  const { pool, priority, vmId } = opts;
  const vmUuid = await resolveVm(opts.vm, deps, "registered");
  return runReconfigure({ vmUuid, pool, priority, vmId }, opts, deps);
}

export const command = defineCommand({ parseOptions, run });
