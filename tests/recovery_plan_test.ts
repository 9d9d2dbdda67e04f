// The pure rules behind recover and the plausibility check (src/domain/journal.ts,
// src/domain/device-args.ts), table-driven.
import assert from "node:assert/strict";
import { implausibleArgs } from "../src/domain/device-args.ts";
import { type JournalEntry, planRecovery } from "../src/domain/journal.ts";

const A = { pool: "A" as const, priority: 2 as const, vmId: 1 };
const B = { pool: "B" as const, priority: 2 as const, vmId: 1 };
const ARGS_A = "-vga std -device vgpu-stub,pool_id=A,priority=high,vm_id=1";
const ARGS_B = "-vga std -device vgpu-stub,pool_id=B,priority=high,vm_id=1";

function entry(step: JournalEntry["step"], power: "running" | "halted" = "running"): JournalEntry {
  return {
    id: 1,
    vmUuid: "u",
    command: "set-pool",
    actor: "root",
    pid: 1,
    startedAt: "",
    step,
    original: { row: A, args: ARGS_A, power },
    target: { row: B, args: ARGS_B },
  };
}

Deno.test("planRecovery: finish only when both row and args hold the target", () => {
  const cases: [
    string,
    Parameters<typeof planRecovery>[1],
    string,
    string | null | undefined,
    boolean,
    boolean,
  ][] = [
    // name, now, kind, writeArgs, restoreRow, start
    [
      "nothing written, halted",
      { row: A, args: ARGS_A, power: "halted" },
      "undo",
      undefined,
      false,
      true,
    ],
    ["row only", { row: B, args: ARGS_A, power: "halted" }, "undo", undefined, true, true],
    ["args only", { row: A, args: ARGS_B, power: "halted" }, "undo", ARGS_A, false, true],
    ["both, halted", { row: B, args: ARGS_B, power: "halted" }, "finish", undefined, false, true],
    [
      "both, running",
      { row: B, args: ARGS_B, power: "running" },
      "finish",
      undefined,
      false,
      false,
    ],
    ["args unreadable", { row: B, args: undefined, power: "halted" }, "undo", ARGS_A, true, true],
    [
      "power unreadable",
      { row: A, args: ARGS_A, power: undefined },
      "undo",
      undefined,
      false,
      true,
    ],
    [
      "args changed by hand meanwhile",
      {
        row: B,
        args: "-nographic",
        power: "halted",
      },
      "undo",
      "-nographic -device vgpu-stub,pool_id=A,priority=high,vm_id=1",
      true,
      true,
    ],
  ];
  for (const [name, now, kind, writeArgs, restoreRow, start] of cases) {
    const p = planRecovery(entry("row-written"), now);
    assert.deepEqual(
      [p.kind, p.writeArgs, p.restoreRow, p.start],
      [kind, writeArgs, restoreRow, start],
      name,
    );
  }
});

Deno.test("planRecovery: a halted VM is never started; a pending shutdown is waited for", () => {
  const halted = planRecovery(entry("row-written", "halted"), {
    row: B,
    args: ARGS_A,
    power: "halted",
  });
  assert.equal(halted.start, false);
  const pending = planRecovery(entry("stopping"), { row: A, args: ARGS_A, power: "running" });
  assert.equal(pending.shutdownMayBePending, true);
  assert.equal(pending.start, false);
});

Deno.test("implausibleArgs: QEMU options pass; markup, messages and control bytes do not", () => {
  for (const ok of [null, "", "  ", ARGS_A, '-name "a b" -vga std', "--device x\n"]) {
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
