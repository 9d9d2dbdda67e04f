import type { PoolId } from "../../domain/types.ts";
import { parsePoolId } from "../../domain/validate.ts";
import { showPool } from "../../ops/pools.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import { showPoolJson, showPoolLines } from "../render/pools.ts";
import { paint } from "../render/style.ts";
import { fitLines } from "../render/fit.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ShowPoolOptions {
  poolId: PoolId;
  format: Format;
}

export function parseOptions(input: RawOptions): ShowPoolOptions {
  const raw = input.pick({ poolId: "required", format: "text" });
  return { poolId: parsePoolId(raw.poolId, "--pool-id"), format: parseFormat(raw.format) };
}

export async function run(opts: ShowPoolOptions, deps: Deps): Promise<void> {
  const detail = showPool(await deps.store(), opts.poolId);
  if (opts.format === "json") writeJson(deps.io.out, showPoolJson(detail));
  else {
    const lines = showPoolLines(detail, paint(deps.io.color));
    writeLines(deps.io.out, fitLines(lines, deps.io.columns ?? null));
  }
}

export const command = defineCommand({ parseOptions, run });
