import type { PoolId } from "../../domain/types.ts";
import { parsePoolId } from "../../domain/validate.ts";
import { poolSummaries, setPoolEnabled } from "../../ops/pools.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Deps } from "../deps.ts";

export interface EnablePoolOptions {
  poolId: PoolId;
}

export function parseOptions(input: RawOptions): EnablePoolOptions {
  const raw = input.pick({ poolId: "required" });
  return { poolId: parsePoolId(raw.poolId, "--pool-id") };
}

export async function run(opts: EnablePoolOptions, deps: Deps): Promise<void> {
  const store = await deps.store({ create: true });
  const r = setPoolEnabled(store, opts.poolId, true);
  const name = JSON.stringify(r.pool.name);
  const vms = poolSummaries(store).find((p) => p.poolId === opts.poolId)!.total;
  const out = deps.io.out;
  if (!r.changed) {
    out.write(`vGPU pool ${opts.poolId} (${name}) is already enabled; nothing changed.\n`);
    return;
  }
  out.write(
    `vGPU pool ${opts.poolId} (${name}) enabled: it takes new VMs again (${vms} VM${
      vms === 1 ? "" : "s"
    } in it).\n`,
  );
}

export const command = defineCommand({ parseOptions, run });
