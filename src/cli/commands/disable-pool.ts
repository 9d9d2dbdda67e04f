import type { PoolId } from "../../domain/types.ts";
import { parsePoolId } from "../../domain/validate.ts";
import { poolSummaries, setPoolEnabled } from "../../ops/pools.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { poolEnabledLine } from "../render/pools.ts";

export interface DisablePoolOptions {
  poolId: PoolId;
}

export function parseOptions(input: RawOptions): DisablePoolOptions {
  const raw = input.pick({ poolId: "required" });
  return { poolId: parsePoolId(raw.poolId, "--pool-id") };
}

export async function run(opts: DisablePoolOptions, deps: Deps): Promise<void> {
  const store = await deps.store({ create: true });
  const r = setPoolEnabled(store, opts.poolId, false);
  const vms = poolSummaries(store).find((p) => p.poolId === opts.poolId)!.total;
  writeLines(deps.io.out, [poolEnabledLine(r, vms)]);
}

export const command = defineCommand({ parseOptions, run });
