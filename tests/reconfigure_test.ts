/**
 * The reconfiguration protocol (design.md §5) of set-pool, set-priority, set-vm-id and update-vm,
 * in-process against the fake xe host: every confirmation path, the seed 001 layout, refusals,
 * a failure and a hang injected at each xe step (the VM must end as it was), slow and ignored
 * clean shutdowns, and a restart through the real start hook installed in the fake.
 */
import assert from "node:assert/strict";
import {
  fakeHost,
  type FakeHostEnv,
  fileHash,
  ROOT,
  runInProcess,
  UUID1,
  UUID2,
  UUID3,
  writeCliWrapper,
} from "./helpers.ts";
import {
  DEFAULT_HOST_UUID,
  type FakeFault,
  type FakeVm,
  findVm,
  makeVm,
  type PowerState,
  readCallLog,
  readHookLog,
  readStateSync,
  updateState,
} from "./fake-xe/state.ts";

const KEY = "device-model-args";
const DEVICE_A = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";
/** The VM's args: hand-set QEMU args around our device (they must survive every change). */
const ORIG = `-global kvm-pit.lost_tick_policy=discard ${DEVICE_A} -name web,debug-threads=on`;
const argsWith = (device: string) =>
  `-global kvm-pit.lost_tick_policy=discard ${device} -name web,debug-threads=on`;
const QUESTION = "Do you want to apply these settings? (yes/no):";
const CANCELLED = "Cancelled; nothing changed.\n";

type Run = Awaited<ReturnType<typeof runInProcess>>;

interface Host extends FakeHostEnv {
  run(argv: string[], o?: Parameters<typeof runInProcess>[1]): Promise<Run>;
}

/** UUID1 "web" (vGPU pool A, high, vm_id 1) registered and in sync on a fake host. */
async function setup(
  power: PowerState,
  o: { vm?: Partial<FakeVm>; others?: FakeVm[] } = {},
): Promise<Host> {
  const vm = makeVm({
    uuid: UUID1,
    nameLabel: "web",
    powerState: power,
    platform: { [KEY]: ORIG, viridian: "true" },
    ...o.vm,
  });
  const env = fakeHost([vm, ...(o.others ?? [])]);
  const h: Host = {
    ...env,
    run: (argv, ro = {}) => runInProcess(argv, { ...ro, env: { ...env.env, ...ro.env } }),
  };
  const r = await h.run([
    "register-vm",
    `--vm-uuid=${UUID1}`,
    "--vm-name=web",
    "--pool=A",
    "--priority=high",
    "--vm-id=1",
    "--offline",
  ]);
  assert.equal(r.code, 0, r.stderr);
  clearCalls(h);
  return h;
}

function callLogPath(h: FakeHostEnv): string {
  return readStateSync(h.statePath).callLog!;
}

function clearCalls(h: FakeHostEnv): void {
  Deno.writeTextFileSync(callLogPath(h), "");
}

/** Each logged xe call as its argv joined by spaces. */
function calls(h: FakeHostEnv): string[] {
  return readCallLog(readStateSync(h.statePath)).map((c) => c.argv.join(" "));
}

function verbs(h: FakeHostEnv): string[] {
  return readCallLog(readStateSync(h.statePath)).map((c) => c.argv[0]);
}

const READ_VERBS = new Set(["vm-list", "vm-param-get", "host-list"]);

function writeVerbs(h: FakeHostEnv): string[] {
  return verbs(h).filter((v) => !READ_VERBS.has(v));
}

function hostVm(h: FakeHostEnv, uuid = UUID1): FakeVm {
  const vm = findVm(readStateSync(h.statePath), uuid);
  assert.ok(vm, `VM ${uuid} in the fake's state`);
  return vm;
}

interface Snapshot {
  power: PowerState | null;
  platform: Record<string, string> | null;
  /** The database row as `show-vm --offline --format=json` prints it. */
  row: Record<string, unknown>;
  history: number;
}

async function snapshot(h: Host, uuid = UUID1): Promise<Snapshot> {
  const vm = findVm(readStateSync(h.statePath), uuid);
  const show = await h.run(["show-vm", `--vm-uuid=${uuid}`, "--offline", "--format=json"]);
  assert.equal(show.code, 0, show.stderr);
  const hist = await h.run(["history", "--format=json"]);
  assert.equal(hist.code, 0, hist.stderr);
  return {
    power: vm?.powerState ?? null,
    platform: vm?.platform ?? null,
    row: JSON.parse(show.stdout).vm.registered,
    // configuration rows only: the stops and starts have power rows of their own (issue 18 C12,
    // tests/history_power_test.ts)
    history:
      JSON.parse(hist.stdout).history.filter((e: { after: { power?: string } | null }) =>
        e.after?.power === undefined
      ).length,
  };
}

function config(row: Record<string, unknown>) {
  return { pool_id: row.pool_id, priority: row.priority, vm_id: row.vm_id };
}

async function inject(h: FakeHostEnv, verb: string, fault: FakeFault): Promise<void> {
  await updateState(h.statePath, (s) => {
    s.faults = { ...s.faults, [verb]: fault };
  });
}

// ---- the four commands ----------------------------------------------------------------------

interface Cmd {
  name: string;
  flags: string[];
  pool: string;
  priority: string;
  priorityValue: number;
  vmId: number;
}

const COMMANDS: Cmd[] = [
  { name: "set-pool", flags: ["--pool=B"], pool: "B", priority: "high", priorityValue: 2, vmId: 1 },
  {
    name: "set-priority",
    flags: ["--priority=low"],
    pool: "A",
    priority: "low",
    priorityValue: 0,
    vmId: 1,
  },
  {
    name: "set-vm-id",
    flags: ["--vm-id=7"],
    pool: "A",
    priority: "high",
    priorityValue: 2,
    vmId: 7,
  },
  {
    name: "update-vm",
    flags: ["--pool=b", "--priority=LOW", "--vm-id", "7"],
    pool: "B",
    priority: "low",
    priorityValue: 0,
    vmId: 7,
  },
];

const device = (c: Cmd) =>
  `-device vgpu-stub,pool_id=${c.pool},priority=${c.priority},vm_id=${c.vmId}`;

function argv(c: Cmd, ...extra: string[]): string[] {
  return [c.name, `--vm-uuid=${UUID1}`, ...c.flags, ...extra];
}

/** The seed 001 confirmation block. */
function confirmation(c: Cmd, power: PowerState): string {
  return [
    `VM ${UUID1} (web), ${power}`,
    "",
    "Current configuration:",
    "  Pool: A",
    "  Priority: high (2)",
    "  VM ID: 1",
    "",
    "New configuration:",
    `  Pool: ${c.pool}`,
    `  Priority: ${c.priority} (${c.priorityValue})`,
    `  VM ID: ${c.vmId}`,
    "",
    power === "running"
      ? "This change requires stopping and restarting the VM."
      : "The change applies at the VM's next start.",
  ].join("\n") + "\n";
}

function applied(c: Cmd, power: PowerState): string {
  return [
    `Applied: VM ${UUID1} is in vGPU pool ${c.pool}, priority ${c.priority}, VM ID ${c.vmId}.`,
    `Platform args: ${argsWith(device(c))}`,
    power === "running"
      ? "The VM was restarted and runs with the new configuration."
      : "The VM is halted; it gets the new configuration at its next start.",
  ].join("\n") + "\n";
}

/** After an answer (not --yes), the power state is read again before anything changes (§5 step 3). */
const RECHECK = (asked: boolean) => (asked ? ["vm-param-get"] : []);

async function assertApplied(
  h: Host,
  c: Cmd,
  power: PowerState,
  r: Run,
  before: Snapshot,
  asked: boolean,
) {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, confirmation(c, power) + applied(c, power));
  const vm = hostVm(h);
  assert.equal(vm.powerState, power);
  assert.deepEqual(vm.platform, { [KEY]: argsWith(device(c)), viridian: "true" });
  const after = await snapshot(h);
  assert.deepEqual(config(after.row), {
    pool_id: c.pool,
    priority: c.priority,
    vm_id: c.vmId,
  });
  assert.equal(after.history, before.history + 1);
  if (power === "running") {
    assert.equal(vm.bootedArgs, argsWith(device(c)), "the VM booted with the new args");
    assert.deepEqual(verbs(h), [
      "vm-list",
      ...RECHECK(asked),
      "vm-shutdown",
      "vm-param-get",
      "vm-param-set",
      "vm-param-get", // every args write is read back (issue 18 B6)
      "vm-start",
      "vm-param-get", // every start is confirmed by the power state
    ]);
    assert.ok(calls(h).includes(`vm-shutdown uuid=${UUID1}`), "a clean shutdown first");
    assert.ok(calls(h).includes(`vm-start uuid=${UUID1} on=${DEFAULT_HOST_UUID}`), "on this host");
  } else {
    assert.deepEqual(verbs(h), [
      "vm-list",
      ...RECHECK(asked),
      "vm-param-get",
      "vm-param-set",
      "vm-param-get",
    ]);
    assert.equal(vm.bootedArgs, undefined, "a halted VM is not started");
  }
}

async function assertCancelled(h: Host, c: Cmd, power: PowerState, r: Run, before: Snapshot) {
  assert.equal(r.code, 1);
  assert.equal(r.stdout, confirmation(c, power));
  assert.ok(r.stderr.endsWith(CANCELLED), r.stderr);
  assert.deepEqual(writeVerbs(h), [], "only reads");
  assert.deepEqual(verbs(h), ["vm-list"]);
  assert.deepEqual(await snapshot(h), before);
}

// ---- every confirmation path, per command, running and halted --------------------------------

interface Path {
  label: string;
  extra?: string[];
  input?: string[];
  interactive?: boolean;
  answers?: string[];
  yes: boolean;
}

const PATHS: Path[] = [
  { label: "--yes", extra: ["--yes"], yes: true },
  { label: "stdin 'yes'", input: ["yes"], yes: true },
  { label: "stdin 'y'", input: ["y"], yes: true },
  { label: "stdin 'no'", input: ["no"], yes: false },
  { label: "stdin garbage", input: ["sure, why not"], yes: false },
  { label: "stdin EOF", input: [], yes: false },
  {
    label: "tty: unrecognised, then 'yes'",
    interactive: true,
    answers: ["maybe", "yes"],
    yes: true,
  },
  { label: "tty: 'no'", interactive: true, answers: ["no"], yes: false },
];

for (const c of COMMANDS) {
  for (const power of ["running", "halted"] as const) {
    for (const p of PATHS) {
      Deno.test(`${c.name} on a ${power} VM: ${p.label}`, async () => {
        const h = await setup(power);
        const before = await snapshot(h);
        const r = await h.run(argv(c, ...(p.extra ?? [])), {
          input: p.input,
          interactive: p.interactive,
          answers: p.answers,
        });
        if (p.yes) await assertApplied(h, c, power, r, before, !p.extra?.includes("--yes"));
        else await assertCancelled(h, c, power, r, before);
        if (p.extra?.includes("--yes")) {
          assert.ok(r.stderr.startsWith(`${QUESTION} yes (--yes)\n`), r.stderr);
          assert.deepEqual(r.questions, []);
        } else if (p.interactive) {
          assert.deepEqual(r.questions, p.answers!.map(() => QUESTION));
          if (p.answers!.length > 1) assert.match(r.stderr, /Please answer yes or no\./);
        } else {
          // no TTY: one line read from stdin, never the prompt
          assert.deepEqual(r.questions, []);
          assert.ok(r.stderr.startsWith(`${QUESTION} `), r.stderr);
          if (p.input!.length === 0) assert.match(r.stderr, /end of input/);
        }
      });
    }
  }
}

Deno.test("confirmation layout (seed 001): running VM, progress on stderr", async () => {
  const h = await setup("running");
  const r = await h.run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `VM ${UUID1} (web), running

Current configuration:
  Pool: A
  Priority: high (2)
  VM ID: 1

New configuration:
  Pool: B
  Priority: high (2)
  VM ID: 1

This change requires stopping and restarting the VM.
Applied: VM ${UUID1} is in vGPU pool B, priority high, VM ID 1.
Platform args: ${argsWith("-device vgpu-stub,pool_id=B,priority=high,vm_id=1")}
The VM was restarted and runs with the new configuration.
`,
  );
  assert.equal(
    r.stderr,
    `${QUESTION} yes (--yes)
Shutting down VM ${UUID1} (clean, waiting up to 120 s)...
Starting VM ${UUID1}...
`,
  );
});

Deno.test("confirmation layout (seed 001): halted VM", async () => {
  const h = await setup("halted");
  const r = await h.run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=medium"], {
    input: ["no"],
  });
  assert.equal(r.code, 1);
  assert.equal(
    r.stdout,
    `VM ${UUID1} (web), halted

Current configuration:
  Pool: A
  Priority: high (2)
  VM ID: 1

New configuration:
  Pool: A
  Priority: medium (1)
  VM ID: 1

The change applies at the VM's next start.
`,
  );
  assert.equal(r.stderr, `${QUESTION} \n${CANCELLED}`);
});

// ---- refusals before anything is asked ------------------------------------------------------

for (const c of COMMANDS) {
  Deno.test(`${c.name}: nothing requested changes -> says so, exit 0, no xe call`, async () => {
    const h = await setup("running");
    const same: Record<string, string[]> = {
      "set-pool": ["--pool=a"],
      "set-priority": ["--priority=2"],
      "set-vm-id": ["--vm-id=1"],
      "update-vm": ["--pool=A", "--priority=high", "--vm-id=1"],
    };
    const before = await snapshot(h);
    const r = await h.run([c.name, `--vm-uuid=${UUID1}`, ...same[c.name]]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `VM ${UUID1} already has vGPU pool A, priority high, VM ID 1; nothing changed.\n`,
    );
    assert.equal(r.stderr, "");
    assert.deepEqual(r.questions, []);
    assert.deepEqual(calls(h), []);
    assert.deepEqual(await snapshot(h), before);
  });
}

for (
  const [power, advice] of [
    ["paused", `unpause it (xe vm-unpause uuid=${UUID1})`],
    ["suspended", `resume it (xe vm-resume uuid=${UUID1})`],
  ] as const
) {
  Deno.test(`a ${power} VM is refused with advice, nothing changed`, async () => {
    const h = await setup(power);
    const before = await snapshot(h);
    const stateHash = await fileHash(h.statePath);
    for (const c of COMMANDS) {
      const r = await h.run(argv(c, "--yes"));
      assert.equal(r.code, 1, c.name);
      assert.equal(r.stdout, "", "refused before the confirmation");
      assert.equal(
        r.stderr,
        `error: VM ${UUID1} is ${power}; ${advice} or shut it down, then retry\n`,
      );
    }
    assert.deepEqual(writeVerbs(h), []);
    assert.equal(await fileHash(h.statePath), stateHash);
    assert.deepEqual(await snapshot(h), before);
  });
}

Deno.test("vm_id conflict: exit 1 naming the holder and the next free vm_id, only vm-list read", async () => {
  const h = await setup("running", {
    others: [makeVm({ uuid: UUID2, nameLabel: "db", powerState: "running" })],
  });
  const reg = await h.run([
    "register-vm",
    `--vm-uuid=${UUID2}`,
    "--vm-name=db",
    "--vm-id=5",
    "--offline",
  ]);
  assert.equal(reg.code, 0, reg.stderr);
  clearCalls(h);
  const before = await snapshot(h);
  for (const cmd of [["set-vm-id", "--vm-id=5"], ["update-vm", "--pool=B", "--vm-id=5"]]) {
    const r = await h.run([cmd[0], `--vm-uuid=${UUID1}`, ...cmd.slice(1), "--yes"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      `error: VM ID 5 already in use by VM ${UUID2} (db); pass --vm-id=2 (the next free vm_id) to choose another\n`,
    );
  }
  // the next free vm_id is one nobody carries either: the host is read, never written
  assert.deepEqual(calls(h).map((c) => c.split(" ")[0]), ["vm-list", "vm-list"]);
  assert.deepEqual(await snapshot(h), before);
});

Deno.test("VM registered but gone from the host: exit 1, nothing written", async () => {
  const h = await setup("running");
  const reg = await h.run(["register-vm", `--vm-uuid=${UUID3}`, "--vm-id=3", "--offline"]);
  assert.equal(reg.code, 0, reg.stderr);
  clearCalls(h);
  const before = await snapshot(h, UUID3);
  const r = await h.run(["set-pool", `--vm-uuid=${UUID3}`, "--pool=B", "--yes"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^error: VM 33333333-\S+ is registered but does not exist on this host/);
  assert.match(r.stderr, /vgpu-admin remove-vm --vm-uuid=33333333-/);
  assert.deepEqual(writeVerbs(h), []);
  assert.deepEqual(await snapshot(h, UUID3), before);
});

// ---- a failure or a hang at each xe step: the VM ends as it was -----------------------------

interface StepFault {
  step: string;
  verb: string;
  match?: string[];
  /** For a hang: the command line that bounds it. */
  failStderr: string;
  /** What stderr must say about the VM's final state. */
  says: RegExp;
}

const ARGS_MATCH = ["param-name=platform", `param-key=${KEY}`];
const PUT_BACK = new RegExp(
  `Everything was put back\\. VM ${UUID1} is now running with args: ${escape(ORIG)}; ` +
    `database: vGPU pool A, priority high, VM ID 1`,
);
const PUT_BACK_HALTED = new RegExp(
  `Everything was put back\\. VM ${UUID1} is now halted with args: ${escape(ORIG)}; ` +
    `database: vGPU pool A, priority high, VM ID 1`,
);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const RUNNING_STEPS: StepFault[] = [
  {
    step: "vm-shutdown",
    verb: "vm-shutdown",
    failStderr: "VM didn't acknowledge the need to shutdown.\n",
    says: /nothing was changed and it is still running/,
  },
  {
    step: "vm-param-get of the args",
    verb: "vm-param-get",
    match: ARGS_MATCH,
    failStderr: "Another operation involving the object is currently in progress\n",
    says: PUT_BACK,
  },
  {
    step: "vm-param-set",
    verb: "vm-param-set",
    failStderr: "Another operation involving the object is currently in progress\n",
    says: PUT_BACK,
  },
  {
    step: "vm-start",
    verb: "vm-start",
    failStderr: "An emulator required to run this VM failed to start\n",
    says: PUT_BACK,
  },
];

const HALTED_STEPS: StepFault[] = RUNNING_STEPS.slice(1, 3).map((s) => ({
  ...s,
  says: PUT_BACK_HALTED,
}));

for (
  const [power, steps] of [["running", RUNNING_STEPS], ["halted", HALTED_STEPS]] as const
) {
  for (const s of steps) {
    // A hang at each step is tested in-process against the fake runner (recover_machine_test.ts):
    // the same outcome, without waiting for real timeouts.
    Deno.test(`${power} VM, fail at ${s.step}: original state, args, row; exit 1`, async () => {
      const h = await setup(power);
      const before = await snapshot(h);
      clearCalls(h);
      // times: 1, so the compensation can call the same verb again
      await inject(h, s.verb, { mode: "fail", stderr: s.failStderr, times: 1, match: s.match });
      const r = await h.run([
        "update-vm",
        `--vm-uuid=${UUID1}`,
        "--pool=B",
        "--priority=low",
        "--shutdown-timeout=2",
        "--yes",
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, s.says);
      assert.ok(r.stderr.includes(s.failStderr.trim()), r.stderr);
      assert.doesNotMatch(r.stdout, /^Applied:/m);
      const vm = hostVm(h);
      assert.equal(vm.powerState, power);
      assert.deepEqual(vm.platform, { [KEY]: ORIG, viridian: "true" });
      if (power === "running" && s.verb !== "vm-shutdown") {
        assert.equal(vm.bootedArgs, ORIG, "restarted with its original args");
      }
      assert.deepEqual(await snapshot(h), before, "row and history as before");
      assert.equal(readStateSync(h.statePath).faults?.[s.verb], undefined, "fault was used");
    });
  }
}

Deno.test("compensation that cannot restart the VM says so truthfully", async () => {
  const h = await setup("running");
  const before = await snapshot(h);
  // vm-start fails twice: the change and the compensating restart
  await inject(h, "vm-start", {
    mode: "fail",
    stderr: "An emulator required to run this VM failed to start\n",
    times: 2,
  });
  const r = await h.run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /could not start the VM again/);
  assert.match(r.stderr, new RegExp(`VM ${UUID1} is now halted with args: ${escape(ORIG)}`));
  const vm = hostVm(h);
  assert.equal(vm.powerState, "halted");
  assert.equal(vm.platform[KEY], ORIG);
  const after = await snapshot(h);
  assert.deepEqual(after.row, before.row);
  assert.equal(after.history, before.history);
});

// ---- clean shutdowns that are ignored or late -----------------------------------------------

Deno.test("clean shutdown ignored by the guest: exit 1 and --force-shutdown advised", async () => {
  const h = await setup("running", { vm: { ignoreCleanShutdown: true } });
  const before = await snapshot(h);
  const r = await h.run([
    "set-pool",
    `--vm-uuid=${UUID1}`,
    "--pool=B",
    "--shutdown-timeout=1",
    "--yes",
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /did not shut down .*nothing was changed and it is still running/);
  assert.match(r.stderr, /--force-shutdown/);
  assert.deepEqual(writeVerbs(h), ["vm-shutdown"]);
  assert.equal(hostVm(h).powerState, "running");
  assert.deepEqual(await snapshot(h), before);
});

Deno.test("clean shutdown ignored by the guest: --force-shutdown applies the change", async () => {
  const h = await setup("running", { vm: { ignoreCleanShutdown: true } });
  const r = await h.run([
    "set-pool",
    `--vm-uuid=${UUID1}`,
    "--pool=B",
    "--shutdown-timeout=1",
    "--force-shutdown",
    "--yes",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /forcing a hard shutdown/);
  assert.ok(calls(h).includes(`vm-shutdown uuid=${UUID1} force=true`));
  const vm = hostVm(h);
  assert.equal(vm.powerState, "running");
  const next = argsWith("-device vgpu-stub,pool_id=B,priority=high,vm_id=1");
  assert.equal(vm.platform[KEY], next);
  assert.equal(vm.bootedArgs, next);
});

Deno.test("clean shutdown that completes after the wait: reported, change proceeds", async () => {
  // the shutdown completes at most 1.2 s after the 1 s wait ends; the power-state re-read is
  // delayed 1.3 s, so it sees the VM halted however slowly the fake xe starts
  const h = await setup("running", { vm: { lateShutdownMs: 1200 } });
  await inject(h, "vm-param-get", {
    mode: "delay",
    ms: 1300,
    times: 1,
    match: ["param-name=power-state"],
  });
  const r = await h.run([
    "set-priority",
    `--vm-uuid=${UUID1}`,
    "--priority=low",
    "--shutdown-timeout=1",
    "--yes",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /The clean shutdown completed after the wait ended\./);
  assert.doesNotMatch(r.stderr, /hard shutdown/);
  const vm = hostVm(h);
  const next = argsWith("-device vgpu-stub,pool_id=A,priority=low,vm_id=1");
  assert.equal(vm.powerState, "running");
  assert.equal(vm.platform[KEY], next);
  assert.equal(vm.bootedArgs, next);
  const after = await snapshot(h);
  assert.equal(after.row.priority, "low");
});

Deno.test("clean shutdown still running at the re-read: exit 1, may still complete", async () => {
  const h = await setup("running", { vm: { lateShutdownMs: 3000 } });
  const before = await snapshot(h);
  const r = await h.run([
    "set-pool",
    `--vm-uuid=${UUID1}`,
    "--pool=B",
    "--shutdown-timeout=1",
    "--yes",
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing was changed and it is still running/);
  assert.match(r.stderr, /clean shutdown may still complete later/);
  assert.equal(hostVm(h).platform[KEY], ORIG);
  assert.deepEqual(writeVerbs(h), ["vm-shutdown"]);
  assert.deepEqual(await snapshot(h), before);
});

// ---- with the real start hook installed in the fake -----------------------------------------

Deno.test("running VM restarted through the installed hook boots the new args, in sync", async () => {
  const h = await setup("running");
  const hookDir = `${h.dir}/vm-pre-start`;
  Deno.mkdirSync(hookDir);
  const wrapper = `${h.dir}/vgpu-admin`;
  writeCliWrapper(wrapper, h.env);
  const script = Deno.readTextFileSync(`${ROOT}/hooks/vm-pre-start/10-vgpu-admin`)
    .replace(/^VGPU_ADMIN=.*$/m, `VGPU_ADMIN='${wrapper}'`)
    .replace(/^VGPU_DB_PATH=.*$/m, `VGPU_DB_PATH='${h.dbPath}'`);
  Deno.writeTextFileSync(`${hookDir}/10-vgpu-admin`, script, { mode: 0o755 });
  Deno.chmodSync(`${hookDir}/10-vgpu-admin`, 0o755);
  await updateState(h.statePath, (s) => {
    s.hookDir = hookDir;
    s.hookLog = `${h.dir}/hook-runs.jsonl`;
  });
  const r = await h.run(["update-vm", `--vm-uuid=${UUID1}`, "--pool=B", "--vm-id=9", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  const next = argsWith("-device vgpu-stub,pool_id=B,priority=high,vm_id=9");
  const vm = hostVm(h);
  assert.equal(vm.powerState, "running");
  assert.equal(vm.bootedArgs, next);
  assert.equal(vm.platform[KEY], next);
  const runs = readHookLog(readStateSync(h.statePath));
  assert.equal(runs.length, 1);
  assert.equal(runs[0].exit, 0, runs[0].stderr);
  assert.equal(runs[0].vm, UUID1);
  const log = Deno.readTextFileSync(h.logPath).trim().split("\n");
  assert.equal(log.length, 1);
  assert.match(log[0], new RegExp(`vm=${UUID1} reason=none action=in-sync result=ok`));
  // the hook committed nothing: no stale start, the database says what the VM runs
  const status = await h.run(["status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.doesNotMatch(status.stdout, /stale/);
});
