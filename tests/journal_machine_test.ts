// The journal's state machine (src/domain/journal.ts nextAction), pinned as a golden table:
// every step × original power × power now × row × args → the next action, as qemu-server pins
// config → command line. Any change of a decision shows up as a diff of this one file
// (UPDATE_GOLDEN=tests/golden/journal/next-action.txt accepts an intended one).
import assert from "node:assert/strict";
import {
  type Action,
  argsCarry,
  type Attempts,
  JOURNAL_STEPS,
  type JournalEntry,
  nextAction,
  NO_ATTEMPTS,
  type Observed,
  predictActions,
} from "../src/domain/journal.ts";
import type { PowerState, VgpuConfig } from "../src/domain/types.ts";
import { assertGolden } from "./golden.ts";
import { implausibleArgs } from "../src/domain/device-args.ts";

const ORIGINAL: VgpuConfig = { pool: "A", priority: 2, vmId: 7 };
const TARGET: VgpuConfig = { pool: "A", priority: 0, vmId: 7 };
const OTHER: VgpuConfig = { pool: "B", priority: 1, vmId: 9 };
// As adopted VMs carry them: properties reordered, the original spelled by hand.
const HAND = "-global kvm-pit.lost_tick_policy=discard";
const ARGS_ORIGINAL = `${HAND} -device vgpu-stub,vm_id=7,pool_id=A,priority=high`;
const ARGS_TARGET = `${HAND} -device vgpu-stub,pool_id=A,priority=low,vm_id=7`;

const ROWS: Record<string, VgpuConfig | null | undefined> = {
  original: ORIGINAL,
  target: TARGET,
  other: OTHER,
  none: null,
  unreadable: undefined,
};
const ARGS: Record<string, string | null | undefined> = {
  original: ARGS_ORIGINAL,
  "original-canonical": `${HAND} -device vgpu-stub,pool_id=A,priority=high,vm_id=7`,
  target: ARGS_TARGET,
  "target-reordered": `${HAND} -device vgpu-stub,priority=0,vm_id=7,pool_id=A`,
  "hand-edited": "-nographic",
  none: null,
  unreadable: undefined,
};
const POWERS: (PowerState | undefined)[] = ["halted", "running", "paused", "suspended", undefined];

function entry(step: JournalEntry["step"], power: PowerState): JournalEntry {
  return {
    id: 1,
    vmUuid: "11111111-1111-4111-8111-111111111111",
    command: "set-priority",
    actor: "root",
    pid: 1,
    startedAt: "2026-03-01T02:00:00.000Z",
    step,
    undoFrom: step === "undoing" ? "starting" : null,
    original: { row: ORIGINAL, args: ARGS_ORIGINAL, power },
    target: { row: TARGET, args: ARGS_TARGET },
  };
}

function show(a: Action): string {
  switch (a.kind) {
    case "write-args":
      return `write-args ${a.toward} ${JSON.stringify(a.args)}`;
    case "restore-row":
      return `restore-row ${a.row.pool}/${a.row.priority}/${a.row.vmId}`;
    case "close":
      return `close ${a.outcome}${a.clearStale ? " clear-stale" : ""}`;
    case "stuck":
      return `stuck ${a.problems.join(",")}`;
    default:
      return a.kind;
  }
}

Deno.test("nextAction: the golden table of every step × power × row × args", () => {
  const lines: string[] = ["# step | was | power now | row | args -> next action"];
  for (const step of JOURNAL_STEPS) {
    for (const was of ["running", "halted"] as const) {
      for (const power of POWERS) {
        for (const [rowName, row] of Object.entries(ROWS)) {
          for (const [argsName, args] of Object.entries(ARGS)) {
            const o: Observed = { row, args, power, vmGone: false, stale: false };
            lines.push(
              `${step} | ${was} | ${power ?? "unknown"} | ${rowName} | ${argsName} -> ${
                show(nextAction(entry(step, was), o))
              }`,
            );
          }
        }
      }
    }
  }
  assertGolden(
    decodeURIComponent(new URL("./golden/journal/next-action.txt", import.meta.url).pathname),
    lines.join("\n") + "\n",
  );
});

Deno.test("argsCarry: one definition of agreement, parsed, never strings", () => {
  assert.ok(argsCarry(ARGS_ORIGINAL, ORIGINAL), "reordered properties agree");
  assert.ok(argsCarry(`-device vgpu-stub,pool_id=A,priority=2,vm_id=7`, ORIGINAL), "2 = high");
  assert.ok(!argsCarry(ARGS_TARGET, ORIGINAL));
  assert.ok(!argsCarry(null, ORIGINAL));
  assert.ok(!argsCarry(undefined, ORIGINAL));
  assert.ok(!argsCarry(ARGS_ORIGINAL, null));
  assert.ok(
    !argsCarry(`${ARGS_ORIGINAL} -device vgpu-stub,pool_id=A,priority=high,vm_id=7`, ORIGINAL),
    "two devices never agree",
  );
});

Deno.test("nextAction: a failed action is not tried again; the VM is still started", () => {
  const e = { ...entry("undoing", "running") };
  const o: Observed = {
    row: TARGET,
    args: ARGS_TARGET,
    power: "halted",
    vmGone: false,
    stale: false,
  };
  const a = (failed: Attempts["failed"]): Attempts => ({ ...NO_ATTEMPTS, failed });
  assert.equal(show(nextAction(e, o)), `write-args original ${JSON.stringify(ARGS_ORIGINAL)}`);
  // args could not be put back: the row keeps the new configuration they carry; start anyway
  assert.equal(show(nextAction(e, o, a(["write-original"]))), "start");
  assert.equal(
    show(nextAction(e, { ...o, power: "running" }, { ...a(["write-original"]), started: true })),
    "close kept-new",
  );
  // the database refuses writes: the args follow the row it keeps
  const undone = { ...o, args: ARGS_ORIGINAL };
  assert.equal(show(nextAction(e, undone)), "restore-row A/2/7");
  assert.equal(
    show(nextAction(e, undone, a(["restore-row"]))),
    `write-args target ${JSON.stringify(ARGS_TARGET)}`,
  );
  assert.equal(show(nextAction(e, undone, a(["restore-row", "write-target"]))), "start");
  assert.equal(
    show(
      nextAction(e, { ...undone, power: "running" }, a(["restore-row", "write-target", "start"])),
    ),
    "stuck disagree",
  );
  // a start that failed: not tried again; the entry stays open, saying why
  assert.equal(
    show(nextAction(e, { ...undone, row: ORIGINAL }, a(["start"]))),
    "stuck not-running",
  );
  // the database cannot be read: the VM is started all the same
  assert.equal(show(nextAction(e, { ...undone, row: undefined })), "start");
  assert.equal(
    show(
      nextAction(e, { ...undone, row: undefined, power: "running" }, {
        ...NO_ATTEMPTS,
        started: true,
      }),
    ),
    "stuck database-unreadable",
  );
  // closing failed (journal not writable): stuck, naming it
  assert.equal(
    show(
      nextAction(e, { ...undone, row: ORIGINAL, power: "running" }, {
        ...a(["close"]),
        started: true,
      }),
    ),
    "stuck journal-write-failed",
  );
});

Deno.test("nextAction: a VM deleted from xapi: the row goes back, the entry closes", () => {
  const gone = (row: VgpuConfig | null | undefined): Observed => ({
    row,
    args: undefined,
    power: undefined,
    vmGone: true,
    stale: false,
  });
  const e = entry("args-written", "running");
  assert.equal(show(nextAction(e, gone(TARGET))), "restore-row A/2/7");
  assert.equal(show(nextAction(e, gone(ORIGINAL))), "close vm-gone");
  assert.equal(show(nextAction(e, gone(null))), "close vm-gone");
  assert.equal(show(nextAction(e, gone(OTHER))), "close vm-gone");
  assert.equal(show(nextAction(e, gone(undefined))), "stuck database-unreadable");
});

Deno.test("nextAction: waits for a shutdown only when one was sent and never answered", () => {
  const o: Observed = {
    row: ORIGINAL,
    args: ARGS_ORIGINAL,
    power: "running",
    vmGone: false,
    stale: false,
  };
  assert.equal(show(nextAction(entry("stopping", "running"), o)), "wait-shutdown");
  assert.equal(
    show(nextAction(entry("stopping", "running"), o, { ...NO_ATTEMPTS, waited: true })),
    "close undone",
  );
  for (const step of ["planned", "stopped", "undoing"] as const) {
    assert.notEqual(show(nextAction(entry(step, "running"), o)), "wait-shutdown", step);
  }
});

Deno.test("predictActions: what recover shows is the path nextAction takes", () => {
  const o: Observed = {
    row: TARGET,
    args: ARGS_TARGET,
    power: "halted",
    vmGone: false,
    stale: false,
  };
  assert.deepEqual(predictActions(entry("args-written", "running"), o).map(show), [
    "start",
    "close finished clear-stale",
  ]);
  assert.deepEqual(predictActions(entry("undoing", "running"), o).map(show), [
    `write-args original ${JSON.stringify(ARGS_ORIGINAL)}`,
    "restore-row A/2/7",
    "start",
    "close undone",
  ]);
});

Deno.test("implausibleArgs: QEMU options pass; markup, messages and control bytes do not", () => {
  for (const ok of [null, "", "  ", ARGS_ORIGINAL, '-name "a b" -vga std', "--device x\n"]) {
    assert.equal(implausibleArgs(ok), null, JSON.stringify(ok));
  }
  const bad: [string, RegExp][] = [
    ["<html><body>502</body></html>", /not with a QEMU option/],
    ["-vga std <html>", /markup/],
    ["Internal error", /not with a QEMU option/],
    ["-vga\u0000std", /control characters/],
    ["-vga \u001b[31m", /control characters/],
  ];
  for (const [args, why] of bad) assert.match(implausibleArgs(args) ?? "", why, args);
});
