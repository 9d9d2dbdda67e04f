// recover (design.md §5 step 10): every operation left open in the journal by a process that is
// gone is brought to an end. Finish the change when both the row and the args were written,
// undo it otherwise; either way the VM ends in its original power state with the database and
// its args in agreement, and history tells what was done.
import { sameConfig } from "../domain/device-args.ts";
import { VgpuError } from "../domain/errors.ts";
import {
  carriedConfig,
  type CurrentState,
  type JournalEntry,
  planRecovery,
  type RecoveryPlan,
} from "../domain/journal.ts";
import type { PowerState } from "../domain/types.ts";
import type { Store } from "../store/store.ts";
import type { VmLocks } from "../locks/vm-lock.ts";
import type { Xe } from "../xe/client.ts";
import { abandonedEntries } from "./vm-claim.ts";
import { readWithRetry, setArgsVerified, startedAnyway } from "./xe-write.ts";

export interface RecoveryItem {
  entry: JournalEntry;
  now: CurrentState;
  plan: RecoveryPlan;
}

export interface RecoverOptions {
  /** How long to wait for a clean shutdown the interrupted run sent (it may still be under way). */
  settleMs: number;
  startTimeoutMs: number;
  localHost: string | null;
  progress(line: string): void;
}

export interface RecoveryResult {
  item: RecoveryItem;
  /** Null when the VM is back in its original power state with database and args in agreement. */
  problem: string | null;
  finalPower: PowerState | undefined;
  finalArgs: string | null | undefined;
}

/** Open entries whose process is gone, locked for this run. No xe call when there are none. */
export function claimAbandoned(store: Store, locks: VmLocks, vmUuid?: string): JournalEntry[] {
  const entries = abandonedEntries(store, locks, vmUuid);
  if (entries.length > 0) locks.acquire(entries.map((e) => e.vmUuid));
  return entries;
}

/** Reads each VM's state and decides (nothing is changed yet). */
export async function planRecover(
  store: Store,
  xe: Xe,
  entries: readonly JournalEntry[],
): Promise<RecoveryItem[]> {
  const items: RecoveryItem[] = [];
  for (const entry of entries) {
    const now: CurrentState = {
      row: store.getVm(entry.vmUuid),
      args: await readWithRetry(() => xe.vmGetArgs(entry.vmUuid)),
      power: await readWithRetry(() => xe.vmPowerState(entry.vmUuid)),
    };
    items.push({ entry, now, plan: planRecovery(entry, now) });
  }
  return items;
}

/** Carries out one plan; every step is bounded and reported, none is skipped silently. */
export async function applyRecovery(
  store: Store,
  xe: Xe,
  item: RecoveryItem,
  o: RecoverOptions,
): Promise<RecoveryResult> {
  const { entry } = item;
  const uuid = entry.vmUuid;
  let { plan } = item;
  const problems: string[] = [];
  if (plan.shutdownMayBePending) {
    o.progress(
      `VM ${uuid}: waiting up to ${
        Math.round(o.settleMs / 1000)
      } s for the pending clean shutdown...`,
    );
    const end = Date.now() + o.settleMs;
    let power: PowerState | undefined = item.now.power;
    while (Date.now() < end && power !== "halted") {
      await new Promise((r) => setTimeout(r, 250));
      power = await readWithRetry(() => xe.vmPowerState(uuid));
    }
    plan = planRecovery({ ...entry, step: power === "halted" ? "stopped" : "planned" }, {
      ...item.now,
      power,
    });
  }
  if (plan.writeArgs !== undefined) {
    try {
      await setArgsVerified(xe, uuid, plan.writeArgs);
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      problems.push(`could not write the original args back: ${e.message}`);
    }
  }
  const argsOk = problems.length === 0;
  if (plan.restoreRow && argsOk) {
    try {
      store.updateVm(uuid, entry.original.row, undefined, entry.target.row);
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      problems.push(`could not put the database row back: ${e.message}`);
    }
  }
  if (plan.start) {
    o.progress(`Starting VM ${uuid} (it was running before the interrupted ${entry.command})...`);
    try {
      await xe.vmStart(uuid, { onHost: o.localHost, timeoutMs: o.startTimeoutMs });
    } catch (e) {
      if (!(await startedAnyway(xe, uuid, e))) {
        problems.push(`could not start it: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  const finalPower = await readWithRetry(() => xe.vmPowerState(uuid));
  const finalArgs = await readWithRetry(() => xe.vmGetArgs(uuid));
  const row = store.getVm(uuid);
  const carried = finalArgs === undefined ? undefined : carriedConfig(finalArgs);
  const agree = row !== null && carried !== undefined && carried !== null &&
    sameConfig(carried, row);
  const wasRunning = entry.original.power === "running";
  const powerBack = wasRunning ? finalPower === "running" : finalPower !== undefined;
  if (!agree) problems.push("the database and the VM's args still differ");
  if (!powerBack) {
    problems.push(`the VM is ${finalPower ?? "in an unknown power state"}, not running`);
  }
  if (problems.length === 0) {
    store.transaction(() => {
      if (wasRunning && plan.start) store.clearStaleRun(uuid);
      store.closeJournal(
        entry.id,
        plan.kind === "finish" ? "finished by recover" : "undone by recover",
      );
    });
  }
  return {
    item: { ...item, plan },
    problem: problems.length === 0 ? null : problems.join("; "),
    finalPower,
    finalArgs,
  };
}
