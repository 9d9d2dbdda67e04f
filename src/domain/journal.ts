// The operation journal and its state machine (design.md §5 steps 4, 8, 10 and 11). Pure: from
// what an entry meant (original and target), how far it got (its step) and what the host and the
// database hold now, `nextAction` decides the one next thing to do. The in-process undo of a
// failed reconfiguration and `recover` both run an entry through it until it says close or stuck,
// so both reach the same end for the same facts.
import { mergeDeviceArgs, parseDeviceArgs, sameConfig } from "./device-args.ts";
import type { PowerState, VgpuConfig } from "./types.ts";

/** Forward steps in the order a reconfiguration reaches them (the last one completed is kept). */
export const FORWARD_STEPS = [
  "planned",
  "stopping",
  "stopped",
  "row-written",
  "args-written",
  "starting",
  "started",
] as const;
export type ForwardStep = typeof FORWARD_STEPS[number];

/** Every value of the journal's step column: a forward step, or "undoing" once undo was decided. */
export const JOURNAL_STEPS = [...FORWARD_STEPS, "undoing"] as const;
export type JournalStep = typeof JOURNAL_STEPS[number];

export interface JournalEntry {
  id: number;
  vmUuid: string;
  command: string;
  actor: string;
  pid: number;
  startedAt: string;
  step: JournalStep;
  /** When step is "undoing": the forward step reached when the undo was decided. */
  undoFrom: ForwardStep | null;
  original: { row: VgpuConfig; args: string | null; power: PowerState };
  target: { row: VgpuConfig; args: string | null };
}

/** What an entry's VM holds now. */
export interface Observed {
  /** The database row's configuration; null: no row; undefined: the database could not be read. */
  row: VgpuConfig | null | undefined;
  /** The VM's args; null: no args key; undefined: unreadable. */
  args: string | null | undefined;
  /** undefined: unreadable. */
  power: PowerState | undefined;
  /** xapi answered that no VM has this uuid (deleted since). */
  vmGone: boolean;
  /** The database records that the VM runs with stale args; undefined: unknown. */
  stale: boolean | undefined;
}

/** The kinds of action that can fail; a failed one is not tried again in the same run. */
export type ActionKind =
  | "wait-shutdown"
  | "write-original"
  | "write-target"
  | "restore-row"
  | "start"
  | "mark-stale"
  | "close";

/** What this run already did with the entry. */
export interface Attempts {
  /** Actions that failed in this run. */
  failed: readonly ActionKind[];
  /** This run waited for a pending clean shutdown (it is not waited for twice). */
  waited: boolean;
  /** This run started the VM itself (so it booted with the args it carries now). */
  started: boolean;
}

export const NO_ATTEMPTS: Attempts = { failed: [], waited: false, started: false };

/** How a closed entry ended. */
export type Outcome =
  /** The change was kept: database and args both hold the target. */
  | "finished"
  /** The change was undone: database and args both hold the original. */
  | "undone"
  /** The undo could not put the args back: the database keeps the new configuration they carry. */
  | "kept-new"
  /** The VM was deleted from xapi: the row holds the original configuration, nothing else to do. */
  | "vm-gone";

/** Why an entry cannot be closed yet (each becomes one clause of the report). */
export type Problem =
  | "database-unreadable"
  | "args-unreadable"
  | "disagree"
  | "not-running"
  | "power-unknown"
  | "row-write-failed"
  | "journal-write-failed";

export type Action =
  /** A clean shutdown was sent and never answered: wait for it to settle (it may still halt the VM). */
  | { kind: "wait-shutdown" }
  /** Write the VM's args (null: remove the key), toward the original or the target configuration. */
  | { kind: "write-args"; toward: "original" | "target"; args: string | null }
  /** Put the row back to the original configuration (compare-and-set: only from the target). */
  | { kind: "restore-row"; row: VgpuConfig }
  /** Start the VM (it ran before the operation). */
  | { kind: "start" }
  /** Record that the VM runs with args that are not the database's (it booted with the target). */
  | { kind: "mark-stale" }
  /** Database and args agree and the VM is in its original power state: close the entry. */
  | { kind: "close"; outcome: Outcome; clearStale: boolean }
  /** Nothing more can be done now: the entry stays open for `recover`. */
  | { kind: "stuck"; problems: Problem[] };

/** The vgpu-stub configuration an args value carries, when it carries exactly one valid one. */
export function carriedConfig(args: string | null): VgpuConfig | null {
  const stubs = parseDeviceArgs(args).stubs;
  return stubs.length === 1 ? stubs[0].config : null;
}

/**
 * THE definition of "database and args agree" (design.md §2 drift): the args carry exactly one
 * valid vgpu-stub and its parsed properties equal the configuration (order-free, `priority=2`
 * equals `high`), never a comparison of strings.
 */
export function argsCarry(
  args: string | null | undefined,
  c: VgpuConfig | null | undefined,
): boolean {
  if (args === undefined || c === null || c === undefined) return false;
  const carried = carriedConfig(args);
  return carried !== null && sameConfig(carried, c);
}

function mergeOr(args: string | null | undefined, c: VgpuConfig, fallback: string | null) {
  if (args === undefined) return fallback;
  try {
    return mergeDeviceArgs(args, c);
  } catch {
    return fallback; // implausible args are never built upon
  }
}

const atOrAfter = (s: ForwardStep, than: ForwardStep) =>
  FORWARD_STEPS.indexOf(s) >= FORWARD_STEPS.indexOf(than);

/** The forward step the entry had reached (for an undo: when it was decided). */
export function reached(e: JournalEntry): ForwardStep | null {
  return e.step === "undoing" ? e.undoFrom : e.step;
}

/** "finish" when database and args both hold the target and nobody decided to undo; else "undo". */
export function direction(e: JournalEntry, o: Observed, a: Attempts): "finish" | "undo" {
  const rowAtTarget = o.row != null && sameConfig(o.row, e.target.row);
  if (e.step !== "undoing" && rowAtTarget && argsCarry(o.args, e.target.row)) return "finish";
  // The database refuses writes (locked, full): it keeps the new row, so the args follow it.
  if (rowAtTarget && a.failed.includes("restore-row")) return "finish";
  return "undo";
}

/**
 * The one next thing to do for an open entry, from what is observed now and what this run
 * already tried. Order: settle a pending shutdown, make database and args agree (args first: the
 * database follows what the VM really carries), bring the power state back, then close.
 */
export function nextAction(e: JournalEntry, o: Observed, a: Attempts = NO_ATTEMPTS): Action {
  const failed = (k: ActionKind) => a.failed.includes(k);
  if (o.vmGone) {
    // Deleted from xapi: nothing to write or start; the row goes back to what it was before.
    if (o.row === undefined) return { kind: "stuck", problems: ["database-unreadable"] };
    if (o.row !== null && !sameConfig(o.row, e.original.row) && sameConfig(o.row, e.target.row)) {
      if (!failed("restore-row")) return { kind: "restore-row", row: e.original.row };
      return { kind: "stuck", problems: ["row-write-failed"] };
    }
    if (failed("close")) return { kind: "stuck", problems: ["journal-write-failed"] };
    return { kind: "close", outcome: "vm-gone", clearStale: false };
  }
  const wasRunning = e.original.power === "running";
  // Only a shutdown that was sent and never answered may still halt the VM (issue 18 B5).
  if (e.step === "stopping" && wasRunning && o.power === "running" && !a.waited) {
    return { kind: "wait-shutdown" };
  }
  const dir = direction(e, o, a);
  const want = dir === "finish" ? e.target.row : e.original.row;
  const from = reached(e);
  // Args that cannot be read were never touched by us before the row was written: leave them.
  const untouched = o.args === undefined && from !== null && !atOrAfter(from, "row-written");
  if (!argsCarry(o.args, want) && !untouched) {
    const kind = dir === "finish" ? "write-target" : "write-original";
    if (!failed(kind)) {
      // Exactly what the VM carried before when nothing else changed since; else ours merged in.
      const args = dir === "finish"
        ? (o.args === e.original.args ? e.target.args : mergeOr(o.args, want, e.target.args))
        : (o.args === undefined || o.args === e.target.args
          ? e.original.args
          : mergeOr(o.args, want, e.original.args));
      return { kind: "write-args", toward: dir === "finish" ? "target" : "original", args };
    }
  }
  if (
    dir === "undo" && argsCarry(o.args, e.original.row) && o.row != null &&
    !sameConfig(o.row, e.original.row) && sameConfig(o.row, e.target.row) && !failed("restore-row")
  ) return { kind: "restore-row", row: e.original.row };
  if (wasRunning && o.power !== "running" && !failed("start")) return { kind: "start" };
  // Ours was the last start and it came after the args were written: the VM booted with the
  // target args, which the undo has just taken back (it runs stale until its next restart).
  if (
    dir === "undo" && wasRunning && o.power === "running" && !a.started && o.stale === false &&
    from !== null && atOrAfter(from, "starting") && argsCarry(o.args, o.row) &&
    !failed("mark-stale")
  ) return { kind: "mark-stale" };
  const problems: Problem[] = [];
  if (o.row === undefined) problems.push("database-unreadable");
  else if (o.args === undefined) problems.push("args-unreadable");
  else if (!argsCarry(o.args, o.row)) problems.push("disagree");
  if (o.power === undefined) problems.push("power-unknown");
  else if (wasRunning && o.power !== "running") problems.push("not-running");
  if (problems.length === 0 && failed("close")) problems.push("journal-write-failed");
  if (problems.length > 0) return { kind: "stuck", problems };
  const outcome: Outcome = dir === "finish"
    ? "finished"
    : argsCarry(o.args, e.original.row)
    ? "undone"
    : "kept-new";
  return {
    kind: "close",
    outcome,
    clearStale: dir === "finish" && wasRunning &&
      (a.started || (from !== null && atOrAfter(from, "starting"))),
  };
}

/**
 * The actions `nextAction` leads to when each one succeeds (what recover shows before asking).
 * A wait for a pending shutdown ends the prediction: what follows depends on how it ends.
 */
export function predictActions(e: JournalEntry, now: Observed): Action[] {
  const out: Action[] = [];
  let o = { ...now };
  let a: Attempts = NO_ATTEMPTS;
  for (let i = 0; i < 8; i++) {
    const act = nextAction(e, o, a);
    out.push(act);
    switch (act.kind) {
      case "wait-shutdown":
      case "close":
      case "stuck":
        return out;
      case "write-args":
        o = { ...o, args: act.args };
        break;
      case "restore-row":
        o = { ...o, row: act.row };
        break;
      case "start":
        o = { ...o, power: "running" };
        a = { ...a, started: true };
        break;
      case "mark-stale":
        o = { ...o, stale: true };
        break;
    }
  }
  return out;
}
