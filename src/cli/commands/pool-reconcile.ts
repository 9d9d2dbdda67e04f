// `vgpu-admin pool reconcile [--dry-run] [--yes]` (design.md §8).
import { VgpuError } from "../../domain/errors.ts";
import { confirmOrCancel } from "../confirm.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Outcome } from "../outcome.ts";

export interface PoolReconcileOptions {
  dryRun: boolean;
  yes: boolean;
}

export function parseOptions(input: RawOptions): PoolReconcileOptions {
  const raw = input.pick({ dryRun: "flag", yes: "flag" });
  return { dryRun: raw.dryRun === true, yes: raw.yes === true };
}

export async function run(opts: PoolReconcileOptions, deps: Deps): Promise<Outcome> {
  const { readPoolState } = await import("../../store/pool-cache.ts");
  const { readReconcile, applyReconcile } = await import("../../ops/pool-reconcile.ts");
  const { reconcilePlanLines, reconcileDoneLines } = await import("../render/pool-change.ts");
  const store = await deps.store();
  const state = readPoolState(store);
  if (state === null) {
    throw new VgpuError("this host is not in pool mode: run 'vgpu-admin pool enable' first");
  }
  const input = {
    store,
    xe: await deps.xe(),
    locks: deps.locks(),
    now: deps.now,
    host: deps.localHost(),
    command: deps.command,
  };
  const { plan, snap, xp } = await readReconcile(input);
  const out = deps.io.out;
  writeLines(out, reconcilePlanLines(plan, opts.dryRun));
  if (opts.dryRun || plan.actions.length === 0) {
    return plan.unsettled.length === 0 ? undefined : "degraded";
  }
  await confirmOrCancel("Apply these changes to the pool? (yes/no):", opts.yes, deps);
  const r = await applyReconcile(input, xp, snap, plan, state.masterName);
  writeLines(out, reconcileDoneLines(r));
  return r.failed.length + plan.unsettled.length === 0 ? undefined : "degraded";
}

export const command = defineCommand({ parseOptions, run });
