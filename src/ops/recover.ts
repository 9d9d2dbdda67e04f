// recover (design.md §5 step 10): every operation left open in the journal by a process that is
// gone is brought to an end through the journal's state machine (settle.ts, domain/journal.ts),
// the same path the in-process undo takes. Finish the change when both the row and the args were
// written, undo it otherwise; either way the VM ends in its original power state with the
// database and its args in agreement. A VM deleted from xapi meanwhile gets its row back and
// its entry closed (issue 21 item 3).
import type { Clock } from "../domain/clock.ts";
import {
  type Action,
  direction,
  type JournalEntry,
  NO_ATTEMPTS,
  type Observed,
  type Outcome,
  predictActions,
  type Problem,
} from "../domain/journal.ts";
import type { Store } from "../store/store.ts";
import type { VmLocks } from "../locks/vm-lock.ts";
import type { Xe } from "../xe/client.ts";
import { failureText, observe, settleEntry } from "./settle.ts";
import { abandonedEntries } from "./vm-claim.ts";

export interface RecoveryItem {
  entry: JournalEntry;
  now: Observed;
  kind: "finish" | "undo";
  /** The actions the state machine leads to when each succeeds (shown before the question). */
  actions: Action[];
}

export interface RecoverOptions {
  /** How long to wait for a clean shutdown the interrupted run sent (it may still be under way). */
  settleMs: number;
  startTimeoutMs: number;
  localHost: string | null;
  progress(line: string): void;
  clock: Clock;
}

export interface RecoveryResult {
  item: RecoveryItem;
  outcome: Outcome | null;
  /** Null when the entry was closed: database and args agree, the VM is back. */
  problem: string | null;
  final: Observed;
}

/** Open entries whose process is gone, locked for this run. No xe call when there are none. */
export function claimAbandoned(store: Store, locks: VmLocks, vmUuid?: string): JournalEntry[] {
  const entries = abandonedEntries(store, locks, vmUuid);
  if (entries.length > 0) locks.acquire(entries.map((e) => e.vmUuid));
  return entries;
}

/** Reads each VM's state and predicts the way to the end (nothing is changed yet). */
export async function planRecover(
  store: Store,
  xe: Xe,
  entries: readonly JournalEntry[],
  clock: Clock,
): Promise<RecoveryItem[]> {
  const items: RecoveryItem[] = [];
  for (const entry of entries) {
    const now = await observe(store, xe, entry.vmUuid, clock);
    items.push({
      entry,
      now,
      kind: direction(entry, now, NO_ATTEMPTS),
      actions: predictActions(entry, now),
    });
  }
  return items;
}

const PROBLEM_TEXT: Record<Problem, string> = {
  "database-unreadable": "the database could not be read",
  "args-unreadable": "the VM's args could not be read",
  disagree: "the database and the VM's args still differ",
  "not-running": "the VM is not running",
  "power-unknown": "the VM's power state cannot be read",
  "row-write-failed": "the database row could not be put back",
  "journal-write-failed": "the journal entry could not be closed",
};

/** Carries out one entry; every step is bounded and reported, none is skipped silently. */
export async function applyRecovery(
  store: Store,
  xe: Xe,
  item: RecoveryItem,
  o: RecoverOptions,
): Promise<RecoveryResult> {
  const s = await settleEntry(store, xe, { ...item.entry }, {
    clock: o.clock,
    settleMs: o.settleMs,
    startTimeoutMs: o.startTimeoutMs,
    localHost: o.localHost,
    elsewhere: null,
    progress: o.progress,
  });
  const problems = [...failureText(s.failures), ...s.problems.map((p) => PROBLEM_TEXT[p])];
  return {
    item,
    outcome: s.outcome,
    problem: s.outcome === null ? problems.join("; ") : null,
    final: s.final,
  };
}
