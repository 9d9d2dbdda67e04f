import { poolSummaries } from "../../ops/pools.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import { listPoolsLines, poolJson } from "../render/pools.ts";
import { paint } from "../render/style.ts";

export interface ListPoolsOptions {
  format: Format;
}

export function parseOptions(raw: { format?: string }): ListPoolsOptions {
  return { format: parseFormat(raw.format) };
}

export async function run(opts: ListPoolsOptions, deps: Deps): Promise<void> {
  const pools = poolSummaries(await deps.store());
  if (opts.format === "json") writeJson(deps.io.out, { pools: pools.map(poolJson) });
  else writeLines(deps.io.out, listPoolsLines(pools, paint(deps.io.color)));
}
