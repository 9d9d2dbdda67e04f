// The text of recover in pool mode (design.md §8): the take-over of a dead host's operations
// (`recover --take-over`) and the pool-wide steps around this host's own recover.
import type { JournalEntry } from "../../domain/journal.ts";
import type { TakeoverPlan } from "../../ops/pool-takeover.ts";
import { printable } from "../../domain/printable.ts";

/** An entry of this host that another host of the pool took over (closed here). */
export function takenOverLine(e: JournalEntry): string {
  return `VM ${e.vmUuid}: the interrupted ${
    printable(e.command)
  } (pid ${e.pid}) was taken over by another host of the pool; its journal entry is closed and this host's database follows the pool.`;
}

/** The pool's tickets and claims could not be settled after recover. */
export function settleWarning(why: string): string {
  return `warning: the pool's tickets and claims of the recovered VMs could not be settled (${
    printable(why)
  }); run 'vgpu-admin pool reconcile'`;
}

/**
 * What `recover --take-over` will do, before its question (or that there is nothing to do).
 * Names and ticket fields come from xapi (another host wrote them): every line is made printable.
 */
export function takeoverPlanLines(plan: TakeoverPlan): string[] {
  return planLines(plan).map(printable);
}

function planLines(plan: TakeoverPlan): string[] {
  const lines = [...plan.alive];
  if (plan.items.length === 0) return [...lines, "No operation of a dead host to take over."];
  for (const it of plan.items) {
    lines.push(
      `VM ${it.vmUuid} (${it.name}): ${it.holder.command} by ${it.holderName} (pid ${it.holder.pid}, dead host) since ${it.holder.at}.`,
      `  Take-over will ${
        it.kind === "finish"
          ? "finish the change (its commit marker is there)"
          : it.kind === "undo"
          ? "undo the change (no commit marker)"
          : "release the VM"
      }:`,
      ...it.actions.map((a) => `    - ${a}`),
    );
  }
  return lines;
}

/** The end of `recover --take-over`. */
export function takeoverDoneLine(done: number, total: number): string {
  return `Took over ${done} of ${total}.`;
}
