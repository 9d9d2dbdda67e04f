// Runs one journal entry to its end through the state machine (domain/journal.ts nextAction):
// observe the VM and the row, do the one next action, observe again. The in-process undo of a
// failed reconfiguration and `recover` are both this loop; only what they start from differs.
// Nothing here depends on the database working: a failed read is "unknown", a failed write is
// one more failed action, and a VM that ran is started again whatever (issue 21 item 1).
import type { Clock } from "../domain/clock.ts";
import { implausibleArgs } from "../domain/device-args.ts";
import { causeOf, VgpuError, XeVmNotFoundError } from "../domain/errors.ts";
import {
  type Action,
  type ActionKind,
  argsCarry,
  type Attempts,
  direction,
  type JournalEntry,
  nextAction,
  type Observed,
  type Outcome,
  type Problem,
  reached,
} from "../domain/journal.ts";
import { priorityName, type VgpuConfig } from "../domain/types.ts";
import type { Store, VmChange } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { readWithRetry, setArgsVerified, startConfirmed } from "./xe-write.ts";

export interface SettleOptions {
  clock: Clock;
  /** How long to wait for a clean shutdown that was sent and never answered. */
  settleMs: number;
  startTimeoutMs: number;
  localHost: string | null;
  /** Where the VM ran before, when not on this host: a start here that fails is tried there. */
  elsewhere: { uuid: string; name: string } | null;
  progress(line: string): void;
  /** The in-process undo knows the exact change it committed (row timestamps, history row). */
  change?: VmChange | null;
}

export interface Settled {
  /** null: the entry stays open (see problems). */
  outcome: Outcome | null;
  problems: Problem[];
  /** Each failed action (what could not be done) with xe's or the database's words. */
  failures: { what: string; why: string }[];
  /** The database could not be put back, so this run wrote the new args to match it. */
  followedDatabase: boolean;
  /** What the VM and the database hold at the end. */
  final: Observed;
  /** The actions done, in order. */
  done: Action["kind"][];
}

/** Decides to undo (in memory; settleEntry journals it before its first action). */
export function decideUndo(e: JournalEntry): void {
  if (e.step === "undoing") return;
  e.undoFrom = e.step;
  e.step = "undoing";
}

/** Reads what an entry's VM and row hold now; never throws for xe or database failures. */
export async function observe(
  store: Store,
  xe: Xe,
  vmUuid: string,
  clock: Clock,
): Promise<Observed> {
  let vmGone = false;
  const read = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await readWithRetry(f, clock);
    } catch (err) {
      if (err instanceof XeVmNotFoundError) {
        vmGone = true;
        return undefined;
      }
      if (!(err instanceof VgpuError)) throw err;
      return undefined;
    }
  };
  const power = await read(() => xe.vmPowerState(vmUuid));
  let args = vmGone ? undefined : await read(() => xe.vmGetArgs(vmUuid));
  // An answer that cannot be QEMU args is unreadable, never data to act on (design.md §5.11).
  if (args !== undefined && implausibleArgs(args) !== null) args = undefined;
  let row: VgpuConfig | null | undefined;
  let stale: boolean | undefined;
  try {
    const vm = store.getVm(vmUuid);
    row = vm === null ? null : { pool: vm.pool, priority: vm.priority, vmId: vm.vmId };
    stale = store.getStaleRun(vmUuid) !== null;
  } catch (err) {
    if (!(err instanceof VgpuError)) throw err;
    row = undefined;
  }
  return { row, args, power, vmGone, stale };
}

/** Runs the entry until nextAction says close or stuck; each failed action is not retried. */
export async function settleEntry(
  store: Store,
  xe: Xe,
  entry: JournalEntry,
  o: SettleOptions,
): Promise<Settled> {
  const failed: ActionKind[] = [];
  const failures: { what: string; why: string }[] = [];
  const done: Action["kind"][] = [];
  let followedDatabase = false;
  let attempts: Attempts = { failed, waited: false, started: false };
  let undoJournaled = false;
  const uuid = entry.vmUuid;
  const tryIt = async (kind: ActionKind, what: string, fn: () => unknown) => {
    try {
      await fn();
      return true;
    } catch (err) {
      if (!(err instanceof VgpuError)) throw err;
      failed.push(kind);
      failures.push({ what, why: causeOf(err) });
      return false;
    }
  };
  for (let i = 0; i < 16; i++) {
    const now = await observe(store, xe, uuid, o.clock);
    const act = nextAction(entry, now, attempts);
    if (act.kind === "stuck") {
      return {
        outcome: null,
        problems: act.problems,
        failures,
        followedDatabase,
        final: now,
        done,
      };
    }
    // The decision to undo is journaled before anything is done for it (best effort): a run
    // killed from here on is undone by recover too, which then never waits for a shutdown.
    if (
      act.kind !== "wait-shutdown" && !now.vmGone && !undoJournaled &&
      direction(entry, now, attempts) === "undo"
    ) {
      undoJournaled = true;
      const from = reached(entry) ?? "planned";
      decideUndo(entry);
      try {
        store.markJournalUndoing(entry.id, from);
      } catch (err) {
        if (!(err instanceof VgpuError)) throw err; // the close tells; the VM comes first
      }
    }
    done.push(act.kind);
    switch (act.kind) {
      case "close": {
        const ok = await tryIt("close", "close the journal entry", () =>
          store.transaction(() => {
            if (act.clearStale) store.clearStaleRun(uuid);
            store.closeJournal(entry.id, act.outcome);
          }));
        if (ok) {
          return {
            outcome: act.outcome,
            problems: [],
            failures,
            followedDatabase,
            final: now,
            done,
          };
        }
        break; // nextAction now says stuck: journal-write-failed
      }
      case "wait-shutdown": {
        o.progress(
          `VM ${uuid}: waiting up to ${
            Math.round(o.settleMs / 1000)
          } s for the pending clean shutdown...`,
        );
        const end = o.clock.now().getTime() + o.settleMs;
        let power = now.power;
        while (o.clock.now().getTime() < end && power !== "halted") {
          await o.clock.sleep(250);
          power = await readWithRetry(() => xe.vmPowerState(uuid), o.clock).catch(() => undefined);
        }
        attempts = { ...attempts, waited: true };
        break;
      }
      case "write-args":
        if (act.toward === "target" && failed.includes("restore-row")) followedDatabase = true;
        await tryIt(
          act.toward === "original" ? "write-original" : "write-target",
          act.toward === "original" ? "restore the original args" : "write the new args",
          () => setArgsVerified(xe, uuid, act.args, o.clock),
        );
        break;
      case "restore-row":
        await tryIt("restore-row", "put the database row back", () => {
          // The exact undo of our own change (timestamps, history row) when this run made it.
          if (o.change && !now.vmGone) {
            if (!store.undoChange(o.change)) {
              throw new VgpuError("it was changed by someone else meanwhile and was left as it is");
            }
            return;
          }
          store.updateVm(uuid, act.row, undefined, entry.target.row, { anyPool: true });
        });
        break;
      case "start": {
        const what = argsCarry(now.args, entry.original.row)
          ? " with its original configuration"
          : argsCarry(now.args, entry.target.row)
          ? " with the new configuration"
          : "";
        o.progress(`Starting VM ${uuid} again${what}...`);
        const ok = await tryIt("start", "start the VM again", async () => {
          try {
            await startConfirmed(xe, uuid, {
              onHost: o.localHost,
              timeoutMs: o.startTimeoutMs,
            }, o.clock);
          } catch (err) {
            if (o.elsewhere === null || !(err instanceof VgpuError)) throw err;
            o.progress(`Starting VM ${uuid} on ${o.elsewhere.name}, where it ran before...`);
            await startConfirmed(xe, uuid, {
              onHost: o.elsewhere.uuid,
              timeoutMs: o.startTimeoutMs,
            }, o.clock);
          }
        });
        if (ok) attempts = { ...attempts, started: true };
        break;
      }
      case "mark-stale":
        await tryIt(
          "mark-stale",
          "record that it runs with the new args",
          () => store.markStaleRun(uuid, "started during a reconfiguration that was undone"),
        );
        break;
    }
  }
  const final = await observe(store, xe, uuid, o.clock);
  return { outcome: null, problems: ["disagree"], failures, followedDatabase, final, done };
}

function rowText(row: VgpuConfig | null | undefined): string {
  if (row === undefined) return "unreadable";
  if (row === null) return "not registered";
  return `vGPU pool ${row.pool}, priority ${priorityName(row.priority)}, VM ID ${row.vmId}`;
}

/** The VM's final state in one sentence: power state, args and database row. */
export function stateText(uuid: string, o: Observed): string {
  const args = o.args === undefined ? "unknown" : o.args === null ? "(none)" : o.args;
  return `VM ${uuid} is now ${
    o.power ?? "in an unknown power state"
  } with args: ${args}; database: ${rowText(o.row)}`;
}

/** "could not A or B: why" for failures that share their reason (a database that is down). */
export function failureText(
  failures: readonly { what: string; why: string }[],
  alreadyTold = "",
): string[] {
  const byWhy = new Map<string, string[]>();
  for (const f of failures) byWhy.set(f.why, [...(byWhy.get(f.why) ?? []), f.what]);
  return [...byWhy].map(([why, whats]) => {
    const list = whats.length === 1
      ? whats[0]
      : `${whats.slice(0, -1).join(", ")} or ${whats[whats.length - 1]}`;
    // the reason the run failed, just given: not repeated word for word
    return alreadyTold.includes(why) ? `could not ${list} either` : `could not ${list}: ${why}`;
  });
}

/** The truthful report of an undo (design.md §5 step 8): what was done, what is, what to run. */
export function describeSettled(uuid: string, s: Settled, alreadyTold = ""): string {
  const recover = `'vgpu-admin recover --vm-uuid=${uuid}'`;
  // "could not close the journal entry" is said once, with what to run (below)
  const failures = s.problems.includes("journal-write-failed")
    ? s.failures.filter((f) => f.what !== "close the journal entry" || !alreadyTold.includes(f.why))
    : s.failures;
  const clauses = failureText(failures, alreadyTold);
  if (s.done.includes("mark-stale")) {
    clauses.push(
      "the VM started after the wait ended and runs with the new vGPU args until its next restart",
    );
  }
  if (s.outcome === "kept-new") {
    clauses.push("the database keeps the new configuration, which the VM now carries");
  } else if (s.followedDatabase) {
    clauses.push("the database keeps the new configuration, so the VM's args were set to match it");
  }
  if (s.outcome === null) {
    if (s.problems.includes("journal-write-failed")) {
      clauses.push(
        `the journal entry could not be closed: run ${recover} once the database accepts writes again`,
      );
    } else if (s.problems.includes("database-unreadable")) {
      clauses.push(`the database could not be read: run ${recover} once it can`);
    } else clauses.push(`run ${recover} to finish putting it back`);
  }
  const head = clauses.length === 0 ? "Everything was put back." : `${clauses.join("; ")}.`;
  return `${head} ${stateText(uuid, s.final)}`;
}
