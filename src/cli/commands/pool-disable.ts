// `vgpu-admin pool disable [--yes]` (design.md §8): leave pool mode on the whole XCP-ng pool.
import { confirmOrCancel } from "../confirm.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { DISABLED_LINE, disablePlanLines } from "../render/pool-change.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface PoolDisableOptions {
  yes: boolean;
}

export function parseOptions(input: RawOptions): PoolDisableOptions {
  const raw = input.pick({ yes: "flag" });
  return { yes: raw.yes === true };
}

export async function run(opts: PoolDisableOptions, deps: Deps): Promise<void> {
  const { readDisablePlan, applyDisable } = await import("../../ops/pool-disable.ts");
  const store = await deps.store();
  const { plan, xp } = await readDisablePlan(store, await deps.xe());
  writeLines(deps.io.out, disablePlanLines(plan));
  await confirmOrCancel("Turn pool mode off for this XCP-ng pool? (yes/no):", opts.yes, deps);
  await applyDisable(store, xp, plan, deps.localHost(), deps.now);
  writeLines(deps.io.out, [DISABLED_LINE]);
}

export const command = defineCommand({ parseOptions, run });
