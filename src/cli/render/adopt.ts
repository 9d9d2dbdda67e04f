// adopt: the VMs it would register and those it refuses, then what it registered, from the op's
// plain results (AdoptPlan, AdoptResult) (issue 20 item 5: ops return a view, render prints it).
import { printable } from "../../domain/printable.ts";
import { priorityName } from "../../domain/types.ts";
import type { AdoptPlan, AdoptResult } from "../../ops/adopt.ts";
import type { Paint } from "./style.ts";

/** The refusals, then the candidates (or why there is nothing to adopt). */
export function adoptPlanLines(plan: AdoptPlan, c: Paint): string[] {
  const lines = plan.refused.map((r) =>
    `${c.warn("⚠")} not adopted: VM ${r.host.uuid} (${printable(r.host.nameLabel)}): ${r.reason}`
  );
  if (plan.candidates.length === 0) {
    lines.push(
      plan.refused.length === 0
        ? "No unregistered VM carries a vgpu-stub device; nothing to adopt."
        : "Nothing adopted.",
    );
    return lines;
  }
  lines.push(`VMs to adopt (their args stay as they are; only the database changes):`);
  for (const cand of plan.candidates) {
    const cfg = cand.config;
    lines.push(
      `  VM ${cand.host.uuid} (${printable(cand.host.nameLabel)}): vGPU pool ${cfg.pool}, ` +
        `priority ${priorityName(cfg.priority)}, VM ID ${cfg.vmId}`,
    );
  }
  return lines;
}

export function adoptQuestion(plan: AdoptPlan): string {
  const n = plan.candidates.length;
  return `Adopt ${n} VM${n === 1 ? "" : "s"}? (yes/no):`;
}

/** VMs not adopted: the plan's refusals and the inserts that failed. */
export function notAdopted(plan: AdoptPlan, results: readonly AdoptResult[]): number {
  return plan.refused.length + results.filter((r) => r.error !== null).length;
}

/** One line per candidate, then the counts. */
export function adoptResultLines(
  plan: AdoptPlan,
  results: readonly AdoptResult[],
  c: Paint,
): string[] {
  const lines = results.map((r) =>
    r.error === null
      ? `${c.ok("✓")} adopted VM ${r.candidate.host.uuid} (${
        printable(r.candidate.host.nameLabel)
      })`
      : `${c.bad("✗")} VM ${r.candidate.host.uuid}: ${r.error}`
  );
  lines.push(
    `Adopted ${results.filter((r) => r.error === null).length} VM(s); ${
      notAdopted(plan, results)
    } not adopted.`,
  );
  return lines;
}
