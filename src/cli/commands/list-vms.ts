import type { PoolId, Priority } from "../../domain/types.ts";
import { parsePoolId, parsePriority } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import { listVmsJson, listVmsLines, type ListVmsView } from "../render/list-vms.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ListVmsOptions {
  pool?: PoolId;
  priority?: Priority;
  format: Format;
}

export function parseOptions(input: RawOptions): ListVmsOptions {
  const raw = input.pick({ pool: "text", priority: "text", format: "text" });
  return {
    pool: raw.pool === undefined ? undefined : parsePoolId(raw.pool),
    priority: raw.priority === undefined ? undefined : parsePriority(raw.priority),
    format: parseFormat(raw.format),
  };
}

export async function run(opts: ListVmsOptions, deps: Deps): Promise<void> {
  const store = await deps.store();
  const view: ListVmsView = {
    filter: { pool: opts.pool, priority: opts.priority },
    vms: store.listVms({ pool: opts.pool, priority: opts.priority }),
    // seed 000 step 3.7: each VM's pool with its name and status
    pools: new Map(store.listPools().map((p) => [p.poolId, p])),
  };
  if (opts.format === "json") {
    writeJson(deps.io.out, listVmsJson(view));
    return;
  }
  const o = { color: deps.io.color, columns: deps.io.columns ?? null };
  writeLines(deps.io.out, await listVmsLines(view, o)); // in pieces: 10,000 rows (issue 19)
}

export const command = defineCommand({ parseOptions, run });
