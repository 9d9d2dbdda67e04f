// `vgpu-admin pool status [--format=json]` (design.md §8).
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import { poolStatusJson, poolStatusLines } from "../render/pool.ts";
import { fitLines } from "../render/fit.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Outcome } from "../outcome.ts";

export interface PoolStatusOptions {
  format: Format;
}

export function parseOptions(input: RawOptions): PoolStatusOptions {
  const raw = input.pick({ format: "text" });
  return { format: parseFormat(raw.format) };
}

export async function run(opts: PoolStatusOptions, deps: Deps): Promise<Outcome> {
  const { poolStatus } = await import("../../ops/pool-status.ts");
  // a host without a database can still look at the pool
  const store = await deps.store({ emptyIfMissing: true });
  const view = await poolStatus(store, await deps.xe(), () => deps.redoLog());
  if (opts.format === "json") writeJson(deps.io.out, poolStatusJson(view));
  else {
    const lines = poolStatusLines(view, deps.now());
    writeLines(deps.io.out, fitLines(lines, deps.io.columns ?? null));
  }
  // the cache shown instead of the pool: the answer is not the live one
  return view.cached === null ? undefined : "degraded";
}

export const command = defineCommand({ parseOptions, run });
