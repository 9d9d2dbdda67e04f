// `vgpu-admin pool enable [--dry-run] [--yes]` (design.md §8): turn pool mode on, or join it.
import { confirmOrCancel } from "../confirm.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { enablePlanLines } from "../render/pool.ts";
import { enableDoneLine } from "../render/pool-change.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Outcome } from "../outcome.ts";

export interface PoolEnableOptions {
  dryRun: boolean;
  yes: boolean;
}

export function parseOptions(input: RawOptions): PoolEnableOptions {
  const raw = input.pick({ dryRun: "flag", yes: "flag" });
  return { dryRun: raw.dryRun === true, yes: raw.yes === true };
}

export async function run(opts: PoolEnableOptions, deps: Deps): Promise<Outcome> {
  const { readEnablePlan, applyEnable } = await import("../../ops/pool-enable.ts");
  const store = await deps.store({ create: !opts.dryRun, emptyIfMissing: opts.dryRun });
  const xe = await deps.xe();
  const host = deps.localHost();
  const { plan, xp } = await readEnablePlan(store, xe, host, () => deps.redoLog());
  writeLines(deps.io.out, enablePlanLines(plan, opts.dryRun));
  if (opts.dryRun) return plan.collisions.length === 0 ? undefined : "degraded";
  await confirmOrCancel(
    plan.format === null
      ? "Turn pool mode on for this XCP-ng pool? (yes/no):"
      : "Join pool mode with this host? (yes/no):",
    opts.yes,
    deps,
  );
  const r = await applyEnable(store, xp, plan, host, deps.now, deps.hookRoot());
  writeLines(deps.io.out, [enableDoneLine(r)]);
  return undefined;
}

export const command = defineCommand({ parseOptions, run });
