import { poolSummaries } from "../../ops/pools.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import { listPoolsJson, listPoolsLines } from "../render/pools.ts";
import { paint } from "../render/style.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ListPoolsOptions {
  format: Format;
}

export function parseOptions(input: RawOptions): ListPoolsOptions {
  const raw = input.pick({ format: "text" });
  return { format: parseFormat(raw.format) };
}

export async function run(opts: ListPoolsOptions, deps: Deps): Promise<void> {
  const pools = poolSummaries(await deps.store());
  if (opts.format === "json") writeJson(deps.io.out, listPoolsJson(pools));
  else writeLines(deps.io.out, listPoolsLines(pools, paint(deps.io.color)));
}

export const command = defineCommand({ parseOptions, run });
