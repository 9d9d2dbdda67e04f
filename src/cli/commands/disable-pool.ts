import type { PoolId } from "../../domain/types.ts";
import { parsePoolId } from "../../domain/validate.ts";
import { poolSummaries, setPoolEnabled } from "../../ops/pools.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Deps } from "../deps.ts";

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
  const name = JSON.stringify(r.pool.name);
  const vms = poolSummaries(store).find((p) => p.poolId === opts.poolId)!.total;
  const out = deps.io.out;
  if (!r.changed) {
    out.write(`vGPU pool ${opts.poolId} (${name}) is already disabled; nothing changed.\n`);
    return;
  }
  out.write(
    `vGPU pool ${opts.poolId} (${name}) disabled: it takes no new VMs; its ${vms} VM${
      vms === 1 ? "" : "s"
    } keep${vms === 1 ? "s its" : " their"} configuration and args.\n`,
  );
}

export const command = defineCommand({ parseOptions, run });
