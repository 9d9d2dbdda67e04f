import type { PoolId } from "../../domain/types.ts";
import { parseDescription, parsePoolId, parsePoolName } from "../../domain/validate.ts";
import { renamePool } from "../../ops/pools.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { renamedLines } from "../render/pools.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SetPoolNameOptions {
  poolId: PoolId;
  name: string;
  /** undefined: keep; null: clear. */
  description: string | null | undefined;
}

export function parseOptions(input: RawOptions): SetPoolNameOptions {
  const raw = input.pick({ poolId: "required", name: "required", description: "text" });
  return {
    poolId: parsePoolId(raw.poolId, "--pool-id"),
    name: parsePoolName(raw.name),
    description: raw.description === undefined ? undefined : parseDescription(raw.description),
  };
}

export async function run(opts: SetPoolNameOptions, deps: Deps): Promise<void> {
  const r = renamePool(
    await deps.store({ create: true }),
    opts.poolId,
    opts.name,
    opts.description,
  );
  writeLines(deps.io.out, renamedLines(r));
}

export const command = defineCommand({ parseOptions, run });
