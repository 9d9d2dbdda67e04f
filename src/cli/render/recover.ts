// recover: each interrupted operation with the way the state machine leads it to an end (shown
// before the question), then one line per entry once it ran, from the op's plain results
// (RecoveryItem, RecoveryResult) (issue 20 item 5: ops return a view, render prints it).
import type { Action, JournalEntry, Outcome } from "../../domain/journal.ts";
import { humanTime } from "../../domain/time.ts";
import { priorityName, type VgpuConfig } from "../../domain/types.ts";
import type { RecoveryItem, RecoveryResult } from "../../ops/recover.ts";

export const RECOVER_QUESTION = "Do you want to recover these VMs? (yes/no):";

const describe = (c: VgpuConfig) =>
  `vGPU pool ${c.pool}, priority ${priorityName(c.priority)}, VM ID ${c.vmId}`;

export function nothingToRecoverLine(vmUuid: string | undefined): string {
  return vmUuid === undefined
    ? "No interrupted operations: nothing to recover."
    : `No interrupted operation on VM ${vmUuid}: nothing to recover.`;
}

/** One block per entry: what was interrupted, before, target, now, and the actions to come. */
export function recoverPlanLines(items: readonly RecoveryItem[]): string[] {
  return items.flatMap((it) => {
    const e = it.entry;
    const now = it.now;
    const row = now.row === undefined
      ? "unreadable"
      : now.row === null
      ? "(no row)"
      : describe(now.row);
    const vm = now.vmGone ? "deleted from xapi" : now.power ?? "power state unreadable";
    const args = now.args === undefined ? "unreadable" : now.args ?? "(none)";
    return [
      `VM ${e.vmUuid}: ${e.command} by ${e.actor} (pid ${e.pid}) was interrupted at step ${e.step}, started ${
        humanTime(e.startedAt)
      }.`,
      `  Before: ${describe(e.original.row)}, ${e.original.power}`,
      `  Target: ${describe(e.target.row)}`,
      `  Now: database ${row}; VM ${vm}, args ${args}`,
      `  Recover will ${it.kind === "finish" ? "finish the change" : "undo the change"}:`,
      ...it.actions.map((a) => `    - ${actionText(a, e)}`),
    ];
  });
}

function finalState(r: RecoveryResult): string {
  const f = r.final;
  if (f.vmGone) return "deleted from xapi";
  return `${f.power ?? "power state unknown"}, args ${
    f.args === undefined ? "unknown" : f.args ?? "(none)"
  }`;
}

/** stdout when the entry was closed, else the stderr error line (it says how to go on). */
export function recoverResultLine(r: RecoveryResult): { out: string } | { err: string } {
  const uuid = r.item.entry.vmUuid;
  if (r.problem === null) {
    return { out: `Recovered VM ${uuid}: ${OUTCOME_TEXT[r.outcome!]}; it is ${finalState(r)}.` };
  }
  return {
    err: `error: VM ${uuid} is not recovered: ${r.problem}; it is ${
      finalState(r)
    }. Fix the cause, then run 'vgpu-admin recover --vm-uuid=${uuid}' again`,
  };
}

const OUTCOME_TEXT: Record<Outcome, string> = {
  finished: "change finished",
  undone: "change undone",
  "kept-new": "the new configuration it carries is kept (its original args could not be written)",
  "vm-gone": "the VM no longer exists in xapi; its row holds the original configuration",
};

/** One line per action the state machine leads to (recover shows them before asking). */
export function actionText(a: Action, e: JournalEntry): string {
  switch (a.kind) {
    case "wait-shutdown":
      return "wait for the clean shutdown it sent to settle, then start the VM if it halted";
    case "write-args":
      return `${a.toward === "original" ? "write the original args back" : "write the new args"}: ${
        a.args ?? "(none)"
      }`;
    case "restore-row":
      return `put the database row back to ${describe(a.row)}`;
    case "start":
      return "start the VM again (it was running)";
    case "mark-stale":
      return "record that it runs with the new args until its next restart";
    case "close":
      return a.outcome === "finished"
        ? `keep the new configuration (${describe(e.target.row)}): database and args agree`
        : a.outcome === "vm-gone"
        ? "close it: the VM no longer exists in xapi (remove it with 'vgpu-admin remove-vm')"
        : a.outcome === "kept-new"
        ? "keep the new configuration the VM carries, and close it"
        : `close it: ${describe(e.original.row)} everywhere`;
    case "stuck":
      return `nothing can be done now: ${a.problems.join(", ")}`;
  }
}
