// Golden transcripts of the screens that sync, import, recover, adopt and the reconfiguration
// commands print (issue 20 item 5: their text moved to src/cli/render/ with every byte kept).
// Each scenario runs a series of commands in-process against the argv-keyed fake runner and a
// fake clock; the transcript holds each command's stdout, stderr and exit code, plain and (for
// the screens that paint) coloured. Expected files: tests/golden/render/<scenario>.txt, written
// only with UPDATE_GOLDEN (tests/golden.ts).
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { bufferIo } from "../src/cli/io.ts";
import { main } from "../src/cli/dispatch.ts";
import { VERSION } from "../src/cli/command-table.ts";
import { assertGolden } from "./golden.ts";
import { HOOK_PATH, HOOK_PATHS, LOGROTATE_PATH, MARKER } from "../src/ops/install.ts";
import { fakeClock, fakeRunner, type ModelVm, type Reply } from "./fake-runner.ts";
import { tempDir, UUID1, UUID2, UUID3, UUID4 } from "./helpers.ts";
import type { Action, JournalEntry, Observed } from "../src/domain/journal.ts";
import type { HostVm, Vm } from "../src/domain/types.ts";
import type { HostWrite } from "../src/ops/transfer.ts";
import type { ReconfigurePlan } from "../src/ops/reconfigure.ts";
import { importHostLines } from "../src/cli/render/import.ts";
import { actionText, recoverPlanLines, recoverResultLine } from "../src/cli/render/recover.ts";
import { appliedLines, confirmationLines } from "../src/cli/render/reconfigure.ts";
import { paint } from "../src/cli/render/style.ts";
import {
  settleWarning,
  takenOverLine,
  takeoverDoneLine,
  takeoverPlanLines,
} from "../src/cli/render/pool-takeover.ts";

const GOLDEN = decodeURIComponent(new URL("./golden/render/", import.meta.url).pathname);
const KEY = "device-model-args";
const HAND = "-global kvm-pit.lost_tick_policy=discard";
const UUID5 = "55555555-5555-4555-8555-555555555555";
const UUID6 = "66666666-6666-4666-8666-666666666666";
const UUID7 = "77777777-7777-4777-8777-777777777777";
const UUID8 = "88888888-8888-4888-8888-888888888888";
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;

function vm(uuid: string, name: string, power: ModelVm["power"], args?: string): ModelVm {
  return { uuid, nameLabel: name, power, platform: args === undefined ? {} : { [KEY]: args } };
}

/** A host (the fake runner, a fake clock, a database) and a transcript of what it printed. */
function scenario(vms: ModelVm[], o: { color?: boolean } = {}) {
  const dir = tempDir("vgpu-render-");
  const dbPath = `${dir}/vgpu_config.db`;
  const clock = fakeClock();
  const xe = fakeRunner(vms, clock);
  let transcript = "";
  const run = async (
    argv: string[],
    r: { input?: string[]; expect?: [RegExp, Reply][]; quiet?: boolean; crash?: boolean } = {},
  ) => {
    for (const [p, reply] of r.expect ?? []) xe.expect(p, reply);
    const io = bufferIo({ input: r.input, color: o.color });
    const env: Record<string, string> = { VGPU_DB: dbPath, USER: "root" };
    let code: number | string;
    try {
      code = await main({
        argv,
        io,
        env: { get: (n) => env[n], all: () => env },
        prompt: { ask: () => Promise.resolve("no") },
        clock,
        xeRunner: xe,
      });
    } catch (e) {
      if (!r.crash) throw e;
      code = `crashed (${(e as Error).message})`;
    }
    if (r.quiet) {
      assert.equal(code, 0, `${argv.join(" ")}: ${io.stderr()}`);
      return;
    }
    const clean = (s: string) =>
      s.replaceAll(dir, "$DIR").replace(/pid \d+/g, "pid PID")
        .replaceAll(`vgpu-admin-${VERSION}-`, "vgpu-admin-$VERSION-");
    transcript += `$ vgpu-admin ${argv.map((a) => a.replaceAll(dir, "$DIR")).join(" ")}\n` +
      `--- stdout\n${clean(io.stdout())}--- stderr\n${clean(io.stderr())}--- exit ${code}\n\n`;
  };
  return { dir, dbPath, clock, xe, run, transcript: () => transcript };
}

class Crash extends Error {}
const crash = () => {
  throw new Crash("simulated kill -9");
};

const SCENARIOS: Record<string, (color: boolean) => Promise<string>> = {
  async sync(color) {
    const s = scenario([
      vm(UUID1, "web", "running", HAND),
      vm(UUID2, "db", "halted"),
      vm(UUID4, "hand-made \x1b[31mred", "running", `${HAND} ${dev("B", "low", 9)}`),
      vm(UUID5, "clone", "halted", dev("A", "high", 1)),
    ], { color });
    await s.run(["sync", "--check"]); // nothing registered
    const reg = (u: string, extra: string[]) =>
      s.run(["register-vm", `--vm-uuid=${u}`, "--offline", ...extra], { quiet: true });
    await reg(UUID1, ["--pool=A", "--priority=high", "--vm-id=1", "--vm-name=web"]);
    await reg(UUID2, ["--pool=B", "--priority=low", "--vm-id=2"]);
    await reg(UUID3, ["--pool=B", "--priority=medium", "--vm-id=3", "--vm-name=gone"]);
    await s.run(["sync", "--check"]);
    await s.run(["sync", "--dry-run"]);
    await s.run(["sync"], {
      expect: [[/^vm-param-set uuid=2/, { code: 1, stderr: "Error: the disk is on fire\n" }]],
    });
    await s.run(["sync"]);
    await s.run(["sync", "--dry-run"]);
    await s.run(["remove-vm", `--vm-uuid=${UUID3}`, "--offline", "--yes"], { quiet: true });
    await s.run(["sync", "--check"]);
    await s.run(["sync"]);
    s.xe.vms.delete(UUID5);
    await s.run(["sync", "--check"]);
    return s.transcript();
  },

  async adopt(color) {
    const s = scenario([
      vm(UUID1, "web", "running", `${HAND} -device vgpu-stub,vm_id=7,pool_id=A,priority=high`),
      vm(UUID2, "two", "halted", `${dev("A", "low", 11)} ${dev("B", "low", 12)}`),
      vm(UUID3, "bad\x1b[2J", "halted", "-device vgpu-stub,pool_id=C,priority=low,vm_id=13"),
      vm(UUID4, "clone-of-reg", "halted", dev("B", "high", 20)),
      vm(UUID5, "twin-1", "halted", dev("A", "medium", 30)),
      vm(UUID6, "twin-2", "halted", dev("A", "medium", 30)),
      vm(UUID7, "in-b", "running", dev("B", "medium", 40)),
    ], { color });
    await s.run(["adopt"]); // no database yet: adopt creates one; nothing registered
    await s.run(["register-vm", `--vm-uuid=${UUID8}`, "--vm-id=20", "--offline"], {
      quiet: true,
    });
    await s.run(["adopt"], { input: ["no"] });
    await s.run(["adopt", `--vm-uuid=${UUID7}`, "--yes"]);
    await s.run(["adopt", "--yes"]);
    await s.run(["adopt", "--yes"]);
    await s.run(["adopt", `--vm-uuid=${UUID1}`, "--yes"]);
    return s.transcript();
  },

  async reconfigure() {
    const s = scenario([
      vm(UUID1, "web", "running", HAND),
      vm(UUID2, "db \x1b[1mbold", "halted"),
    ]);
    await s.run(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--priority=high"], {
      quiet: true,
    });
    await s.run(["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=2"], { quiet: true });
    await s.run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B"], { input: ["no"] });
    await s.run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B"], { input: ["yes"] });
    await s.run(["set-priority", `--vm-uuid=${UUID2}`, "--priority=low", "--yes"]);
    await s.run(["set-vm-id", `--vm-uuid=${UUID2}`, "--vm-id=2", "--yes"]);
    await s.run([
      "update-vm",
      `--vm-uuid=${UUID1}`,
      "--pool=A",
      "--priority=low",
      "--vm-id=9",
      "--yes",
    ]);
    return s.transcript();
  },

  async recover() {
    const s = scenario([
      vm(UUID1, "web", "running", `${HAND} -device vgpu-stub,vm_id=7,pool_id=A,priority=high`),
      vm(UUID2, "db", "halted", dev("B", "low", 8)),
    ]);
    await s.run(["recover"]); // no database
    await s.run(["adopt", "--yes"], { quiet: true });
    await s.run(["recover"]);
    // killed once the new args are written: recover finishes the change
    await s.run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"], {
      expect: [[/^vm-param-set /, { thenModel: true, effect: crash }]],
      crash: true,
    });
    await s.run(["sync", "--check"]); // only the interrupted operation is drift
    // killed before anything is written: recover undoes it
    await s.run(["set-pool", `--vm-uuid=${UUID2}`, "--pool=A", "--yes"], {
      expect: [[/^vm-param-set /, { effect: crash }]],
      crash: true,
    });
    await s.run(["sync", "--check"]);
    await s.run(["recover", `--vm-uuid=${UUID3}`]);
    await s.run(["recover"], { input: ["no"] });
    // the first start fails: that VM is not recovered; the other one is
    await s.run(["recover", "--yes"], {
      expect: [[/^vm-start /, { code: 1, stderr: "Error: no GPU memory left\n" }]],
    });
    await s.run(["recover", "--yes"]);
    await s.run(["recover"]);
    return s.transcript();
  },

  async import() {
    const s = scenario([
      vm(UUID1, "web", "running", HAND),
      vm(UUID2, "db", "halted"),
      vm(UUID4, "extra", "running"),
      vm(UUID5, "batch", "halted"),
      vm(UUID7, "bare", "halted"),
    ]);
    const file = `${s.dir}/config.json`;
    const reg = (u: string, extra: string[]) =>
      s.run(["register-vm", `--vm-uuid=${u}`, ...extra], { quiet: true });
    const unreg = (u: string) =>
      s.run(["remove-vm", `--vm-uuid=${u}`, "--offline", "--yes"], { quiet: true });
    await reg(UUID1, ["--pool=A", "--priority=high", "--vm-id=1", "--vm-name=web"]);
    await reg(UUID2, ["--pool=B", "--priority=low", "--vm-id=2"]);
    await reg(UUID3, ["--pool=B", "--vm-id=3", '--vm-name="quoted" name', "--offline"]);
    await reg(UUID5, ["--pool=A", "--vm-id=5", "--vm-name=batch"]);
    await s.run(["settings", "shutdown-timeout", "60"], { quiet: true });
    await s.run(["export", `--output=${file}`], { quiet: true });
    await s.run(["import", "--yes", file]);
    // the database moves away from the file
    await s.run(["remove-vm", `--vm-uuid=${UUID2}`, "--yes"], { quiet: true });
    await unreg(UUID1);
    await reg(UUID1, ["--pool=B", "--priority=low", "--vm-id=6", "--vm-name=web"]);
    await unreg(UUID3);
    await reg(UUID3, ["--pool=A", "--vm-id=3", '--vm-name="quoted" name', "--offline"]);
    await reg(UUID4, ["--pool=B", "--priority=high", "--vm-id=4"]);
    await reg(UUID6, ["--vm-id=8", "--vm-name=elsewhere", "--offline"]);
    await reg(UUID7, ["--vm-id=9", "--offline"]);
    await s.run(["set-pool-name", "--pool-id=B", "--name=Batch", "--description=nightly"], {
      quiet: true,
    });
    await s.run(["disable-pool", "--pool-id=A"], { quiet: true });
    await s.run(["settings", "shutdown-timeout", "--unset"], { quiet: true });
    await s.run(["settings", "xe-timeout", "45"], { quiet: true });
    await s.run(["import", file], { input: ["yes"] }); // merge: conflicts
    await s.run(["import", "--replace", "--dry-run", file]);
    await s.run(["import", "--replace", file], { input: ["no"] });
    // taking the device out of the removed VM fails: nothing is imported
    await s.run(["import", "--replace", "--yes", file], {
      expect: [[/^vm-param-remove /, { code: 1, stderr: "Error: xapi is busy\n" }]],
    });
    // the host cannot be read: nothing is imported either
    await s.run(["import", "--replace", "--yes", file], {
      expect: [[/^vm-list/, { code: 1, stderr: "Error: connection refused\n" }]],
    });
    // the database changes once the device is out: nothing is imported, sync puts it back
    await s.run(["import", "--replace", "--yes", file], {
      expect: [[/^vm-param-remove /, {
        thenModel: true,
        effect: () => {
          const db = new DatabaseSync(s.dbPath);
          db.exec(
            "INSERT INTO settings (key, value, updated_at) VALUES ('start-timeout', '99', '2026-03-01 02:00:00')",
          );
          db.close();
        },
      }]],
    });
    await s.run(["sync"], { quiet: true });
    await s.run(["settings", "start-timeout", "--unset"], { quiet: true });
    // one VM's write fails; the others are written
    await s.run(["import", "--replace", "--yes", file], {
      expect: [[/^vm-param-set uuid=2/, { code: 1, stderr: "Error: VM locked\n" }]],
    });
    await s.run(["import", "--yes", file]);
    // merge: a name is all that differs
    await unreg(UUID5);
    await reg(UUID5, ["--pool=A", "--vm-id=5", "--vm-name=renamed", "--offline"]);
    await s.run(["import", "--yes", "--offline", file]);
    await unreg(UUID5);
    await s.run(["import", "--yes", "-"], { input: Deno.readTextFileSync(file).split("\n") });
    await unreg(UUID5);
    // the host cannot be read after the commit: the database keeps the import
    await s.run(["import", "--yes", file], {
      expect: [[/^vm-list/, { code: 1, stderr: "Error: connection refused\n" }]],
    });
    return s.transcript();
  },

  async registry(color) {
    const s = scenario([
      vm(UUID1, "web", "running", `${HAND} -device vgpu-stub,vm_id=7,pool_id=A,priority=high`),
      vm(UUID2, "db", "halted", dev("B", "low", 8)),
      vm(UUID3, "plain", "running", HAND),
      vm(UUID4, "twice", "halted", `${dev("A", "low", 11)} ${dev("B", "low", 12)}`),
      vm(UUID5, "bare", "halted"),
      vm(UUID6, "name \x1b[31mred", "halted", dev("A", "high", 3)),
    ], { color });
    await s.run(["list-vms"]); // no database
    await s.run(["set-pool-name", "--pool-id=B", "--name=Batch jobs"]);
    await s.run(["set-pool-name", "--pool-id=B", "--name=Batch jobs"]);
    await s.run(["set-pool-name", "--pool-id=B", "--name=Batch", "--description=nightly runs"]);
    await s.run(["list-vms"]);
    await s.run(["list-vms", "--pool=B", "--priority=high"]);
    await s.run(["list-vms", "--pool=A"]);
    await s.run(["register-vm", `--vm-uuid=${UUID1}`]); // keeps the carried values
    await s.run(["register-vm", `--vm-uuid=${UUID2}`, "--priority=high", "--vm-id=9"]); // changes
    await s.run(["register-vm", `--vm-uuid=${UUID3}`, "--pool=B"]); // running: written
    await s.run(["register-vm", `--vm-uuid=${UUID4}`, "--vm-id=4", "--vm-name=two stubs"]);
    await s.run(["register-vm", `--vm-uuid=${UUID5}`, "--offline", "--vm-id=5"]);
    await s.run(["register-vm", `--vm-uuid=${UUID6}`]); // carries exactly what it gets
    await s.run(["register-vm", `--vm-uuid=${UUID7}`, "--offline", "--vm-name=elsewhere"]);
    await s.run(["list-vms"]);
    await s.run(["list-vms", "--pool=A"]);
    await s.run(["disable-pool", "--pool-id=A"]);
    await s.run(["disable-pool", "--pool-id=A"]);
    await s.run(["list-vms", "--pool=A"]);
    await s.run(["enable-pool", "--pool-id=A"]);
    await s.run(["enable-pool", "--pool-id=A"]);
    await s.run(["show-vm", `--vm-uuid=${UUID1}`]);
    await s.run(["show-vm", `--vm-uuid=${UUID3}`]); // running with stale args
    await s.run(["show-vm", `--vm-uuid=${UUID5}`]); // no device on the VM: drift
    await s.run(["show-vm", `--vm-uuid=${UUID7}`]); // not on the host
    await s.run(["show-vm", `--vm-uuid=${UUID6}`, "--offline"]);
    await s.run(["settings"]);
    await s.run(["settings", "shutdown-timeout", "90"]);
    await s.run(["settings", "shutdown-timeout"]);
    await s.run(["settings", "shutdown-timeout", "--unset"]);
    await s.run(["export", `--output=${s.dir}/out.json`]);
    await s.run(["remove-vm", `--vm-uuid=${UUID7}`, "--yes"]); // not on the host
    await s.run(["remove-vm", `--vm-uuid=${UUID5}`], { input: ["no"] });
    await s.run(["remove-vm", `--vm-uuid=${UUID5}`], { input: ["yes"] }); // no device
    await s.run(["remove-vm", `--vm-uuid=${UUID3}`, "--yes"]); // running, other args stay
    await s.run(["remove-vm", `--vm-uuid=${UUID2}`, "--yes"]); // nothing else: the key goes
    await s.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes", "--offline"]);
    await s.run(["export", `--output=${s.dir}/out.json`]);
    return s.transcript();
  },

  async install() {
    const s = scenario([]);
    const root = `${s.dir}/root`;
    const install = ["install-hook", `--root=${root}`];
    await s.run(install); // the database is created; the program is not there yet
    await s.run(install); // everything current
    Deno.chmodSync(`${root}${HOOK_PATH}`, 0o644);
    Deno.writeTextFileSync(`${root}${LOGROTATE_PATH}`, `${MARKER}\n# an older version\n`);
    await s.run(install); // a mode restored, an older file replaced
    const bin = "/opt/vgpu/vgpu-admin";
    Deno.mkdirSync(`${root}/opt/vgpu`, { recursive: true });
    Deno.writeTextFileSync(`${root}${bin}`, "not a program\n", { mode: 0o644 });
    await s.run([...install, `--binary=${bin}`]); // the hooks now run another program
    Deno.writeTextFileSync(`${root}${HOOK_PATHS[1].path}`, "#!/bin/sh\n# the admin's own\n");
    await s.run(["uninstall-hook", `--root=${root}`]);
    await s.run(["uninstall-hook", `--root=${root}`]);
    return s.transcript();
  },
};

Deno.test("golden render transcripts run in UTC", () => {
  assert.equal(new Date(0).getTimezoneOffset(), 0, "run the golden tests with TZ=UTC");
});

for (const [name, play] of Object.entries(SCENARIOS)) {
  Deno.test(`golden render: ${name}`, async () => {
    assertGolden(`${GOLDEN}${name}.txt`, await play(false));
  });
}

for (const name of ["sync", "adopt", "registry"]) {
  Deno.test(`golden render: ${name}, coloured`, async () => {
    assertGolden(`${GOLDEN}${name}-color.txt`, await SCENARIOS[name](true));
  });
}

// style.md rule 5: a renderer turns a view into text and nothing else, so the goldens above pin
// everything a screen can say. Comments are dropped first (prose may name these words).
Deno.test("renderers in src/cli/render/ are pure: no Deno API, console, stream write or xe", () => {
  const dir = decodeURIComponent(new URL("../src/cli/render/", import.meta.url).pathname);
  const impure = /\bDeno\.|\bconsole\.|\.write\(|\bwriteLines\(|\bwriteJson\(|\bdeps\b|\bnew Xe\b/;
  const offenders: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.name.endsWith(".ts")) continue;
    const code = Deno.readTextFileSync(`${dir}${e.name}`)
      .replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    const m = impure.exec(code);
    if (m !== null) offenders.push(`${e.name}: ${m[0]}`);
  }
  assert.deepEqual(offenders, []);
});

// ---- renderer branches no CLI scenario above reaches cheaply (pure calls, exact text) -------

const A7 = { pool: "A", priority: 2, vmId: 7 } as const;
const A7LOW = { pool: "A", priority: 0, vmId: 7 } as const;
const ENTRY: JournalEntry = {
  id: 1,
  vmUuid: UUID1,
  command: "set-priority",
  actor: "root",
  pid: 42,
  startedAt: "2026-03-01T02:00:00.000Z",
  step: "row-written",
  undoFrom: null,
  original: {
    row: A7,
    args: "-device vgpu-stub,pool_id=A,priority=high,vm_id=7",
    power: "running",
  },
  target: { row: A7LOW, args: "-device vgpu-stub,pool_id=A,priority=low,vm_id=7" },
};

Deno.test("recover's action texts: every kind of action the state machine leads to", () => {
  const actions: [Action, string][] = [
    [
      { kind: "wait-shutdown" },
      "wait for the clean shutdown it sent to settle, then start the VM if it halted",
    ],
    [{ kind: "write-args", toward: "original", args: "-x" }, "write the original args back: -x"],
    [{ kind: "write-args", toward: "target", args: null }, "write the new args: (none)"],
    [
      { kind: "restore-row", row: A7 },
      "put the database row back to vGPU pool A, priority high, VM ID 7",
    ],
    [{ kind: "start" }, "start the VM again (it was running)"],
    [{ kind: "mark-stale" }, "record that it runs with the new args until its next restart"],
    [
      { kind: "close", outcome: "finished", clearStale: false },
      "keep the new configuration (vGPU pool A, priority low, VM ID 7): database and args agree",
    ],
    [
      { kind: "close", outcome: "undone", clearStale: false },
      "close it: vGPU pool A, priority high, VM ID 7 everywhere",
    ],
    [
      { kind: "close", outcome: "kept-new", clearStale: false },
      "keep the new configuration the VM carries, and close it",
    ],
    [
      { kind: "close", outcome: "vm-gone", clearStale: false },
      "close it: the VM no longer exists in xapi (remove it with 'vgpu-admin remove-vm')",
    ],
    [
      { kind: "stuck", problems: ["args-unreadable", "power-unknown"] },
      "nothing can be done now: args-unreadable, power-unknown",
    ],
  ];
  for (const [a, text] of actions) assert.equal(actionText(a, ENTRY), text, a.kind);
});

Deno.test("recover's result line: a VM deleted from xapi, and a state that cannot be read", () => {
  const item = { entry: ENTRY, now: {} as Observed, kind: "undo" as const, actions: [] };
  const gone = { row: A7, args: undefined, power: undefined, vmGone: true, stale: false };
  assert.deepEqual(recoverResultLine({ item, outcome: "vm-gone", problem: null, final: gone }), {
    out:
      `Recovered VM ${UUID1}: the VM no longer exists in xapi; its row holds the original configuration; it is deleted from xapi.`,
  });
  const unknown = { row: A7, args: undefined, power: undefined, vmGone: false, stale: undefined };
  assert.deepEqual(
    recoverResultLine({ item, outcome: null, problem: "the x failed", final: unknown }),
    {
      err:
        `error: VM ${UUID1} is not recovered: the x failed; it is power state unknown, args unknown. Fix the cause, then run 'vgpu-admin recover --vm-uuid=${UUID1}' again`,
    },
  );
  const now: Observed = {
    row: undefined,
    args: undefined,
    power: undefined,
    vmGone: true,
    stale: undefined,
  };
  assert.deepEqual(recoverPlanLines([{ ...item, now }]).slice(3, 4), [
    "  Now: database unreadable; VM deleted from xapi, args unreadable",
  ]);
});

Deno.test("import's host lines: a removal that failed names the hand fix; a removal with nothing to take out", () => {
  const w = (o: Partial<HostWrite>): HostWrite => ({
    vmUuid: UUID2,
    vmName: "db",
    action: "remove",
    result: "failed",
    argsAfter: null,
    powerState: "halted",
    error: "xe said no",
    ...o,
  });
  const lines = importHostLines(
    {
      hostError: null,
      writes: [w({}), w({ argsAfter: "-global x=1" }), w({ result: "in-sync", error: null })],
    },
    paint(false),
    "device-model-args",
  );
  assert.deepEqual(lines, [
    `✗ VM ${UUID2} (db): could not remove its vgpu-stub device: xe said no; it is no longer registered: remove the device by hand (xe vm-param-remove uuid=${UUID2} param-name=platform param-key=device-model-args)`,
    `✗ VM ${UUID2} (db): could not remove its vgpu-stub device: xe said no; it is no longer registered: remove the device by hand (xe vm-param-set uuid=${UUID2} platform:device-model-args='-global x=1')`,
    `✓ VM ${UUID2} (db): carries no vgpu-stub device`,
  ]);
});

Deno.test("the confirmation when an earlier run's shutdown stopped the VM, or the VM runs on another host", () => {
  const vm: Vm = {
    vmUuid: UUID1,
    vmName: "web",
    ...A7,
    createdAt: "2026-03-01 02:00:00",
    updatedAt: "2026-03-01 02:00:00",
  };
  const host: HostVm = {
    uuid: UUID1,
    nameLabel: "web",
    powerState: "halted",
    residentOn: null,
    deviceModelArgs: null,
  };
  const plan: ReconfigurePlan = {
    vm,
    next: A7LOW,
    changed: true,
    host,
    running: true,
    inherited: ENTRY,
    targetArgs: null,
    elsewhere: { uuid: "h2", name: "xcp-2" },
    localName: null,
  };
  assert.deepEqual(confirmationLines(plan).slice(-2), [
    "The VM ran until the clean shutdown of an earlier set-priority (pid 42) stopped it; it will be started again.",
    "The VM runs on host xcp-2; it will be started on this host (this host), whose GPU vgpu-admin configures. If it cannot start here, it is started on xcp-2 again.",
  ]);
  const r = { vm, argsBefore: null, argsAfter: "-x", restarted: true, lateShutdown: false };
  assert.deepEqual(appliedLines({ ...r, finishedAfter: "SIGINT" }).slice(-1), [
    "(SIGINT arrived after the new configuration was written: the change was finished, not undone.)",
  ]);
});

Deno.test("recover --take-over's text: the plan, the end, a taken-over entry, the settle warning; outside text made printable", () => {
  const holder = {
    host: "h2",
    hostName: "xcp-2",
    pid: 4242,
    command: "set-priority",
    at: "2026-03-01T02:00:00Z",
  };
  const item = (kind: "finish" | "undo" | "release", name: string) => ({
    vmUuid: UUID1,
    name,
    ticket: "t",
    holder,
    holderName: "xcp-2",
    kind,
    config: null,
    args: null,
    start: false,
    release: [],
    actions: ["write the args", "start the VM"],
  });
  assert.deepEqual(
    takeoverPlanLines({
      items: [item("finish", "web"), item("undo", "evil\x1b[2J"), item("release", "db")],
      alive: ["VM x: held by xcp-3, which is alive: not taken over"],
      masterName: "xcp-1",
    }),
    [
      "VM x: held by xcp-3, which is alive: not taken over",
      `VM ${UUID1} (web): set-priority by xcp-2 (pid 4242, dead host) since 2026-03-01T02:00:00Z.`,
      "  Take-over will finish the change (its commit marker is there):",
      "    - write the args",
      "    - start the VM",
      `VM ${UUID1} (evil\\x1b[2J): set-priority by xcp-2 (pid 4242, dead host) since 2026-03-01T02:00:00Z.`,
      "  Take-over will undo the change (no commit marker):",
      "    - write the args",
      "    - start the VM",
      `VM ${UUID1} (db): set-priority by xcp-2 (pid 4242, dead host) since 2026-03-01T02:00:00Z.`,
      "  Take-over will release the VM:",
      "    - write the args",
      "    - start the VM",
    ],
  );
  assert.deepEqual(takeoverPlanLines({ items: [], alive: [], masterName: "xcp-1" }), [
    "No operation of a dead host to take over.",
  ]);
  assert.equal(takeoverDoneLine(1, 2), "Took over 1 of 2.");
  assert.equal(
    takenOverLine({ ...ENTRY, vmUuid: UUID2 }),
    `VM ${UUID2}: the interrupted set-priority (pid 42) was taken over by another host of the pool; its journal entry is closed and this host's database follows the pool.`,
  );
  assert.equal(
    settleWarning("xe timed out\nforged line"),
    "warning: the pool's tickets and claims of the recovered VMs could not be settled (xe timed out\\x0aforged line); run 'vgpu-admin pool reconcile'",
  );
});
