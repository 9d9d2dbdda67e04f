// `pool status`'s three xe calls spawned by main.ts before the command loads and the database
// opens (issue 17's bound: pool status at 1,000 VMs on 3 hosts ≤ 2× one vm-list, where most of
// its time is these answers). It makes them on every path, in any mode: the pool record, the
// VMs, the hosts (xe/pool.ts POOL_STATUS_READS). Only a line the parser surely runs as pool
// status spawns them; the runner takes each over, and main.ts releases the rest at exit.
import { type EarlyXe, startEarlyAll } from "../xe/early.ts";
import { POOL_STATUS_READS } from "../xe/read-argv.ts";
import type { Env } from "./deps.ts";
import { surely } from "./early-scan.ts";

const OPTIONS = new Set(["--format=json", "--format=table"]);

/** The early calls of a `pool status` (or `pool-status`) command line, or null. */
export function startEarlyPoolStatus(argv: readonly string[], env: Env): EarlyXe | null {
  const sure = surely(argv, ["pool", "status"], OPTIONS) ||
    surely(argv, ["pool-status"], OPTIONS);
  // pool status changes nothing: its reads need no session of their own (xe/early.ts)
  return sure ? startEarlyAll(POOL_STATUS_READS, env, { readOnly: true }) : null;
}
