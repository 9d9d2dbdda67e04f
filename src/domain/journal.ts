// The operation journal's vocabulary and the recovery decision (design.md §5 steps 4 and 10).
// Pure: what an interrupted reconfiguration must become, from what the journal says was meant
// and what the host and database hold now.
import { mergeDeviceArgs, parseDeviceArgs, sameConfig } from "./device-args.ts";
import type { PowerState, VgpuConfig } from "./types.ts";

/** Steps in the order a reconfiguration reaches them; the journal keeps the last completed. */
export const JOURNAL_STEPS = [
  "planned",
  "stopping",
  "stopped",
  "row-written",
  "args-written",
  "starting",
  "started",
  "undoing",
] as const;
export type JournalStep = typeof JOURNAL_STEPS[number];

export interface JournalEntry {
  id: number;
  vmUuid: string;
  command: string;
  actor: string;
  pid: number;
  startedAt: string;
  step: JournalStep;
  original: { row: VgpuConfig; args: string | null; power: PowerState };
  target: { row: VgpuConfig; args: string | null };
}

/** What an entry's VM holds now; undefined where it could not be read. */
export interface CurrentState {
  /** null: the row is gone (removed). */
  row: VgpuConfig | null;
  /** undefined: unreadable. */
  args: string | null | undefined;
  power: PowerState | undefined;
}

export type RecoveryKind = "finish" | "undo";

export interface RecoveryPlan {
  kind: RecoveryKind;
  /** Write these args (null: remove the key), or leave the args alone (undefined). */
  writeArgs: string | null | undefined;
  /** Put the row back to the original configuration. */
  restoreRow: boolean;
  /** Start the VM (it ran before and is halted now). */
  start: boolean;
  /** A clean shutdown we sent may still be under way in xapi: wait for it to settle first. */
  shutdownMayBePending: boolean;
  /** One line each: what the plan does, for the confirmation. */
  actions: string[];
}

/** The vgpu-stub configuration an args value carries, when it carries exactly one valid one. */
export function carriedConfig(args: string | null): VgpuConfig | null {
  const stubs = parseDeviceArgs(args).stubs;
  return stubs.length === 1 ? stubs[0].config : null;
}

function describe(c: VgpuConfig): string {
  return `vGPU pool ${c.pool}, priority ${["low", "medium", "high"][c.priority]}, VM ID ${c.vmId}`;
}

/**
 * Finish the change when both the row and the args hold the target; undo it otherwise. Either
 * way the VM ends in its original power state, with the database and its args in agreement.
 */
export function planRecovery(e: JournalEntry, now: CurrentState): RecoveryPlan {
  const rowAtTarget = now.row !== null && sameConfig(now.row, e.target.row);
  const carried = now.args === undefined ? undefined : carriedConfig(now.args);
  const argsAtTarget = carried !== undefined && carried !== null &&
    sameConfig(carried, e.target.row);
  const kind: RecoveryKind = rowAtTarget && argsAtTarget ? "finish" : "undo";
  const actions: string[] = [];
  let writeArgs: string | null | undefined = undefined;
  let restoreRow = false;
  if (kind === "finish") {
    actions.push(`keep the new configuration (${describe(e.target.row)}): database and args agree`);
  } else {
    if (now.args === undefined || now.args === e.target.args) {
      writeArgs = e.original.args; // exactly what the VM carried before
    } else if (carried === null || carried === undefined || !sameConfig(carried, e.original.row)) {
      writeArgs = mergeDeviceArgs(now.args, e.original.row); // keep whatever else is there now
    }
    if (writeArgs !== undefined) {
      actions.push(`write the original args back: ${writeArgs ?? "(none)"}`);
    }
    if (rowAtTarget) {
      restoreRow = true;
      actions.push(`put the database row back to ${describe(e.original.row)}`);
    }
    if (writeArgs === undefined && !restoreRow) {
      actions.push(`nothing was changed yet (${describe(e.original.row)} everywhere)`);
    }
  }
  const wasRunning = e.original.power === "running";
  const shutdownMayBePending = wasRunning && e.step === "stopping" && now.power === "running";
  const start = wasRunning && now.power !== "running";
  if (shutdownMayBePending) {
    actions.push("wait for the clean shutdown it sent to settle, then start the VM if it halted");
  } else if (start) actions.push("start the VM again (it was running)");
  else if (wasRunning) actions.push("the VM is running: nothing to start");
  return { kind, writeArgs, restoreRow, start, shutdownMayBePending, actions };
}
