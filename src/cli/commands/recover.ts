// recover: ends every reconfiguration that a dead process left open (design.md §5 step 10).
import { humanTime } from "../../domain/time.ts";
import { priorityName } from "../../domain/types.ts";
import { applyRecovery, claimAbandoned, planRecover } from "../../ops/recover.ts";
import { confirmOrCancel } from "../confirm.ts";
import { resolveVm, type VmRef, vmRefOf } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { createProgress } from "../progress.ts";
import type { VgpuConfig } from "../../domain/types.ts";
import type { Action, JournalEntry, Outcome as EntryOutcome } from "../../domain/journal.ts";

export interface RecoverOptions {
  vm?: VmRef;
  yes: boolean;
  /** Pool mode: end the operations of dead hosts from this one (src/cli/pool-recover.ts). */
  takeOver: boolean;
}

export function parseOptions(input: RawOptions): RecoverOptions {
  const raw = input.pick({ yes: "flag", takeOver: "flag" });
  return {
    vm: vmRefOf(input),
    yes: raw.yes === true,
    takeOver: raw.takeOver === true,
  };
}

const describe = (c: VgpuConfig) =>
  `vGPU pool ${c.pool}, priority ${priorityName(c.priority)}, VM ID ${c.vmId}`;

export async function run(opts: RecoverOptions, deps: Deps): Promise<Outcome> {
  const vmUuid = opts.vm === undefined ? undefined : await resolveVm(opts.vm, deps, "registered");
  if (opts.takeOver) {
    return await (await import("../pool-recover.ts")).runTakeOver({ ...opts, vmUuid }, deps);
  }
  const store = await deps.store();
  // One database read when nothing is open: no xe call, no lock.
  let entries = claimAbandoned(store, deps.locks(), vmUuid);
  const out = deps.io.out;
  if (entries.length === 0) {
    out.write(
      vmUuid === undefined
        ? "No interrupted operations: nothing to recover.\n"
        : `No interrupted operation on VM ${vmUuid}: nothing to recover.\n`,
    );
    return;
  }
  const xe = await deps.xe();
  // pool mode: entries another host took over are closed; standalone: none
  const pool = await import("../pool-recover.ts");
  entries = await pool.withoutTakenOver(store, xe, entries, deps);
  if (entries.length === 0) return;
  const items = await planRecover(store, xe, entries, deps.clock);
  for (const it of items) {
    const e = it.entry;
    writeLines(out, [
      `VM ${e.vmUuid}: ${e.command} by ${e.actor} (pid ${e.pid}) was interrupted at step ${e.step}, started ${
        humanTime(e.startedAt)
      }.`,
      `  Before: ${describe(e.original.row)}, ${e.original.power}`,
      `  Target: ${describe(e.target.row)}`,
      `  Now: database ${
        it.now.row === undefined
          ? "unreadable"
          : it.now.row === null
          ? "(no row)"
          : describe(it.now.row)
      }; VM ${
        it.now.vmGone ? "deleted from xapi" : it.now.power ?? "power state unreadable"
      }, args ${it.now.args === undefined ? "unreadable" : it.now.args ?? "(none)"}`,
      `  Recover will ${it.kind === "finish" ? "finish the change" : "undo the change"}:`,
      ...it.actions.map((a) => `    - ${actionText(a, e)}`),
    ]);
  }
  await confirmOrCancel("Do you want to recover these VMs? (yes/no):", opts.yes, deps);
  const settings = await deps.settings();
  const progress = createProgress(deps.io, deps.clock);
  let failed = 0;
  await deps.interrupts.guard(async () => {
    for (const it of items) {
      const r = await applyRecovery(store, xe, it, {
        settleMs: settings.shutdownTimeoutS * 1000,
        startTimeoutMs: settings.startTimeoutS * 1000,
        localHost: deps.localHost(),
        progress: progress.step,
        clock: deps.clock,
      }).finally(progress.done);
      const state = r.final.vmGone
        ? "deleted from xapi"
        : `${r.final.power ?? "power state unknown"}, args ${
          r.final.args === undefined ? "unknown" : r.final.args ?? "(none)"
        }`;
      if (r.problem === null) {
        out.write(
          `Recovered VM ${it.entry.vmUuid}: ${OUTCOME_TEXT[r.outcome!]}; it is ${state}.\n`,
        );
      } else {
        failed++;
        deps.io.err.write(
          `error: VM ${it.entry.vmUuid} is not recovered: ${r.problem}; it is ${state}. Fix the cause, then run 'vgpu-admin recover --vm-uuid=${it.entry.vmUuid}' again\n`,
        );
      }
    }
  });
  await pool.settlePool(store, xe, items.map((it) => it.entry.vmUuid), deps);
  return failed > 0 ? "degraded" : undefined;
}

const OUTCOME_TEXT: Record<EntryOutcome, string> = {
  finished: "change finished",
  undone: "change undone",
  "kept-new": "the new configuration it carries is kept (its original args could not be written)",
  "vm-gone": "the VM no longer exists in xapi; its row holds the original configuration",
};

/** One line per action the state machine leads to (recover shows them before asking). */
function actionText(a: Action, e: JournalEntry): string {
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

export const command = defineCommand({ parseOptions, run });
