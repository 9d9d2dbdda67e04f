// What pool enable, pool disable and pool reconcile print around their confirmation (design.md
// §8): pure functions from the ops' plans and results to lines (the plan of pool enable is in
// pool.ts, beside pool status).
import type { EnableResult } from "../../ops/pool-enable.ts";
import type { DisablePlan } from "../../ops/pool-disable.ts";
import { actionText, type ReconcilePlan, type Unsettled } from "../../ops/pool-reconcile.ts";

const claims = (n: number) => `${n} vm_id claim${n === 1 ? "" : "s"}`;

export function enableDoneLine(r: EnableResult): string {
  return `${r.turnedOn ? "Pool mode is on" : "This host joined pool mode"}: ${
    claims(r.claimedNow)
  } added; run 'vgpu-admin pool enable' on every other GPU host of the pool.`;
}

export function disablePlanLines(p: DisablePlan): string[] {
  return [
    `Pool mode on pool ${p.poolUuid}: ${p.marker ?? "never enabled (no marker)"}; ${
      claims(p.claims.length)
    } to remove.`,
    "Every host leaves pool mode at its next contact with the master and keeps its database (the whole registry as it was).",
  ];
}

export const DISABLED_LINE = "Pool mode is off; this host is standalone.";

function unsettledLines(list: readonly Unsettled[]): string[] {
  return list.flatMap((u) => [`  ⚠ ${u.text}`, `    fix: ${u.fix}`]);
}

export function reconcilePlanLines(plan: ReconcilePlan, dryRun: boolean): string[] {
  return [
    plan.actions.length === 0
      ? "Nothing to rebuild: the pool's claims agree with this host's registrations."
      : `${dryRun ? "Would do" : "To do"} (${plan.actions.length}):`,
    ...plan.actions.map((a) => `  ${actionText(a)}`),
    ...(plan.unsettled.length === 0 ? [] : [
      `Cannot settle from this host (${plan.unsettled.length}):`,
      ...unsettledLines(plan.unsettled),
    ]),
  ];
}

export function reconcileDoneLines(r: { done: string[]; failed: Unsettled[] }): string[] {
  return [
    `Done (${r.done.length}).`,
    ...(r.failed.length === 0 ? [] : [`Failed (${r.failed.length}):`, ...unsettledLines(r.failed)]),
  ];
}
