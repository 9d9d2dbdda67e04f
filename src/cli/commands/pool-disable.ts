// `vgpu-admin pool disable [--yes]` (design.md §8): leave pool mode on the whole XCP-ng pool.
import { confirmOrCancel } from "../confirm.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
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
  writeLines(deps.io.out, [
    `Pool mode on pool ${plan.poolUuid}: ${
      plan.marker ?? "never enabled (no marker)"
    }; ${plan.claims.length} vm_id claim${plan.claims.length === 1 ? "" : "s"} to remove.`,
    "Every host leaves pool mode at its next contact with the master and keeps its database (the whole registry as it was).",
  ]);
  await confirmOrCancel("Turn pool mode off for this XCP-ng pool? (yes/no):", opts.yes, deps);
  await applyDisable(store, xp, plan, deps.localHost(), deps.now);
  writeLines(deps.io.out, ["Pool mode is off; this host is standalone."]);
}

export const command = defineCommand({ parseOptions, run });
