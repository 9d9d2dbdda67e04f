import type { PoolId } from "../../domain/types.ts";
import { parsePoolId, parseUuid } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import {
  parseCommon,
  type RawCommon,
  type ReconfigureCommon,
  runReconfigure,
} from "../reconfigure-command.ts";

export interface SetPoolOptions extends ReconfigureCommon {
  vmUuid: string;
  pool: PoolId;
}

export function parseOptions(raw: RawCommon & { vmUuid: string; pool: string }): SetPoolOptions {
  return { ...parseCommon(raw), vmUuid: parseUuid(raw.vmUuid), pool: parsePoolId(raw.pool) };
}

export function run(opts: SetPoolOptions, deps: Deps): Promise<void> {
  return runReconfigure({ vmUuid: opts.vmUuid, pool: opts.pool }, opts, deps);
}
