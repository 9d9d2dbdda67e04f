/**
 * Issue 9 beyond signals (design.md §5): lost answers, double faults, implausible answers from xe,
 * two admins at once, the re-check after the question, and `recover`. Each test asserts the VM's
 * power state, its args, the database row and the exit code.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { assertPromiseHolds, HAND, KEY, ORIGINAL_ARGS, runningHost } from "./fault-matrix.ts";
import {
  cliCommand,
  type FakeHostEnv,
  runInProcess,
  spawnCli,
  tempDir,
  until,
  UUID1,
  UUID2,
} from "./helpers.ts";
import {
  type FakeFault,
  findVm,
  makeVm,
  readCallLog,
  readStateSync,
  updateState,
} from "./fake-xe/state.ts";
import { lockDirFor } from "../src/locks/vm-lock.ts";

const ARGS_GET = ["param-name=platform", `param-key=${KEY}`];
const POWER_GET = ["param-name=power-state"];

async function inject(h: FakeHostEnv, faults: Record<string, FakeFault>): Promise<void> {
  await updateState(h.statePath, (s) => {
    s.faults = { ...s.faults, ...faults };
  });
}

async function clearFaults(h: FakeHostEnv): Promise<void> {
  await updateState(h.statePath, (s) => {
    s.faults = {};
  });
}

async function settings(h: FakeHostEnv, pairs: [string, string][]): Promise<void> {
  for (const [k, v] of pairs) {
    const r = await runInProcess(["settings", k, v], { env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
}

function row(h: FakeHostEnv): { pool_id: string; priority: number; vm_id: number } {
  const db = new DatabaseSync(h.dbPath, { readOnly: true });
  try {
    return {
      ...(db.prepare("SELECT pool_id, priority, vm_id FROM vms WHERE vm_uuid = ?").get(UUID1) as {
        pool_id: string;
        priority: number;
        vm_id: number;
      }),
    };
  } finally {
    db.close();
  }
}

function openEntries(h: FakeHostEnv): number {
  const db = new DatabaseSync(h.dbPath, { readOnly: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM op_journal WHERE closed_at IS NULL").get() as {
      n: number;
    }).n;
  } finally {
    db.close();
  }
}

const vm = (h: FakeHostEnv) => findVm(readStateSync(h.statePath), UUID1)!;
const SET_POOL_B = ["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"];
const NEW_ARGS = `${HAND} -device vgpu-stub,pool_id=B,priority=high,vm_id=1`;

// ---- lost answers: the write happened, only its answer was lost (xe-reference.md) -----------

for (const verb of ["vm-param-set", "vm-start", "vm-shutdown"]) {
  Deno.test(`lost answer of ${verb}: the host is read back and the change completes`, async () => {
    const h = await runningHost();
    await settings(h, [["xe-timeout", "1"], ["start-timeout", "1"]]);
    await inject(h, { [verb]: { mode: "lost", times: 1 } });
    const r = await runInProcess([...SET_POOL_B, "--shutdown-timeout=1"], { env: h.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Applied: /m);
    assert.equal(vm(h).platform[KEY], NEW_ARGS);
    assert.equal(vm(h).powerState, "running");
    assert.equal(vm(h).bootedArgs, NEW_ARGS);
    assert.deepEqual(row(h), { pool_id: "B", priority: 2, vm_id: 1 });
    assert.equal(openEntries(h), 0);
  });
}

Deno.test("register-vm: a write whose answer was lost is read back; the row stays", async () => {
  const h = await runningHost();
  await updateState(h.statePath, (s) => {
    s.vms.push(makeVm({ uuid: UUID2, nameLabel: "db", platform: {} }));
  });
  await settings(h, [["xe-timeout", "1"]]);
  await inject(h, { "vm-param-set": { mode: "lost", times: 1 } });
  const r = await runInProcess(["register-vm", `--vm-uuid=${UUID2}`], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  const carried = findVm(readStateSync(h.statePath), UUID2)!.platform[KEY];
  assert.equal(carried, "-device vgpu-stub,pool_id=A,priority=medium,vm_id=2");
  // the next registration must not get vm_id 2
  const next = await runInProcess(["register-vm", `--vm-uuid=${UUID2}`], { env: h.env });
  assert.match(next.stderr, /already registered/);
});

Deno.test("register-vm: a lost write that cannot be read back keeps the row (its vm_id may be in use)", async () => {
  const h = await runningHost();
  await updateState(h.statePath, (s) => {
    s.vms.push(makeVm({ uuid: UUID2, nameLabel: "db", platform: {} }));
  });
  await settings(h, [["xe-timeout", "1"]]);
  await inject(h, {
    "vm-param-set": { mode: "lost", times: 1 },
    "vm-param-get": { mode: "fail", stderr: "Connection refused\n", match: ARGS_GET },
  });
  const r = await runInProcess(["register-vm", `--vm-uuid=${UUID2}`], { env: h.env });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^error: writing the vGPU args of VM .* could not be read back .*it stays registered/m,
  );
  await clearFaults(h);
  const shown = await runInProcess(["show-vm", `--vm-uuid=${UUID2}`], { env: h.env });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /VM ID: +2/);
});

Deno.test("remove-vm: a write whose answer was lost is read back: removed", async () => {
  const h = await runningHost();
  await settings(h, [["xe-timeout", "1"]]);
  await inject(h, { "vm-param-set": { mode: "lost", times: 1 } });
  const r = await runInProcess(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(vm(h).platform[KEY], HAND);
});

// ---- double faults: the undo fails too ---------------------------------------------------

interface Double {
  name: string;
  faults: Record<string, FakeFault>;
  /** What the run must say about the state it left. */
  says: RegExp;
}

const FAIL = (stderr: string, times: number, match?: string[]): FakeFault => ({
  mode: "fail",
  stderr,
  times,
  match,
});

const DOUBLES: Double[] = [
  {
    name: "the write and the restoring write fail",
    faults: {
      "vm-start": FAIL("An emulator required to run this VM failed to start\n", 1),
      "vm-param-set": FAIL("Another operation involving the object is currently in progress\n", 1),
    },
    says: /failed/,
  },
  {
    name: "the start and the restart fail",
    faults: { "vm-start": FAIL("An emulator required to run this VM failed to start\n", 2) },
    says: /could not start the VM again.*recover --vm-uuid=/,
  },
  {
    name: "the start fails and the power state cannot be read",
    faults: {
      "vm-start": FAIL("An emulator required to run this VM failed to start\n", 1),
      "vm-param-get": FAIL("Connection refused\n", 3, POWER_GET),
    },
    says: /VM .* is now running/,
  },
  {
    name: "the start fails and restoring the args fails",
    faults: {
      "vm-start": FAIL("An emulator required to run this VM failed to start\n", 1),
    },
    says:
      /could not restore the original args.*the database keeps the new configuration, which the VM now carries/,
  },
  {
    name: "the args read after the stop fails and the restart fails",
    faults: {
      "vm-param-get": FAIL("Connection refused\n", 1, ARGS_GET),
      "vm-start": FAIL("An emulator required to run this VM failed to start\n", 1),
    },
    says: /could not start the VM again/,
  },
];
// the restoring write is the second vm-param-set: fail it alone for "restoring the args fails"
DOUBLES[3].faults["vm-param-set"] = FAIL("Connection refused\n", 1, [
  `platform:${KEY}=${ORIGINAL_ARGS}`,
]);

for (const d of DOUBLES) {
  Deno.test(`double fault: ${d.name}: the truth is told; recover ends it; promise holds`, async () => {
    const h = await runningHost();
    await inject(h, d.faults);
    const r = await runInProcess(SET_POOL_B, { env: h.env });
    assert.match(r.stderr, d.says);
    // whatever the run left: the database never marks free a vm_id the VM uses
    const carried = vm(h).platform[KEY];
    const db = row(h);
    assert.ok(
      carried.includes(`pool_id=${db.pool_id},`),
      `the row follows what the VM carries: ${JSON.stringify(db)} vs ${carried}`,
    );
    await clearFaults(h);
    const rec = await runInProcess(["recover", "--yes"], { env: h.env });
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    assertPromiseHolds(h, d.name);
  });
}

// ---- plausible answers only --------------------------------------------------------------

const GARBAGE = [
  "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n",
  "\u0000\u0001\u0002binary\n",
  "Internal error, please retry\n",
  "", // an empty answer (xe prints at least the newline)
  "-global kvm-pit.lost_tick_pol", // cut short: no newline
];

for (const [i, g] of GARBAGE.entries()) {
  Deno.test(`garbage ${i + 1} from vm-param-get with exit 0: nothing is written, exit 1`, async () => {
    const h = await runningHost();
    await updateState(h.statePath, (s) => {
      findVm(s, UUID1)!.powerState = "halted";
      findVm(s, UUID1)!.residentOn = null;
    });
    await inject(h, { "vm-param-get": { mode: "garbage", stdout: g, match: ARGS_GET } });
    for (
      const argv of [
        ["update-vm", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"],
        ["startup-hook", `--vm-uuid=${UUID1}`, "--reason=none"],
      ]
    ) {
      const r = await runInProcess(argv, { env: h.env });
      assert.equal(r.code, 1, `${argv[0]}: ${r.stderr}`);
      assert.match(r.stderr, /not QEMU options|printed (nothing|an answer cut short)/, argv[0]);
      assert.doesNotMatch(r.stderr, /bug:/);
      assert.equal(vm(h).platform[KEY], ORIGINAL_ARGS, `${argv[0]} wrote nothing`);
      assert.deepEqual(row(h), { pool_id: "A", priority: 2, vm_id: 1 });
      assert.equal(
        readCallLog(readStateSync(h.statePath)).filter((c) => c.argv[0] === "vm-param-set")
          .length,
        0, // the registration found the args in sync and wrote nothing either
      );
    }
  });
}

Deno.test("garbage in vm-list's platform map: set-pool writes nothing, exit 1", async () => {
  const h = await runningHost();
  await updateState(h.statePath, (s) => {
    findVm(s, UUID1)!.platform[KEY] = "<!DOCTYPE html><html>error</html>";
  });
  const r = await runInProcess(SET_POOL_B, { env: h.env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: xe answered with VM args that are not QEMU options/m);
  assert.equal(vm(h).platform[KEY], "<!DOCTYPE html><html>error</html>");
  assert.equal(vm(h).powerState, "running", "refused before stopping anything");
});

// ---- two admins --------------------------------------------------------------------------

for (const power of ["running", "halted"] as const) {
  Deno.test(`8 parallel set-priority on one ${power} VM: one applies, the others name the holder`, async () => {
    const h = await runningHost();
    if (power === "halted") {
      await updateState(h.statePath, (s) => {
        findVm(s, UUID1)!.powerState = "halted";
        findVm(s, UUID1)!.residentOn = null;
      });
    }
    const [cmd, ...pre] = cliCommand();
    const prios = ["low", "medium", "low", "medium", "low", "medium", "low", "medium"];
    const runs = await Promise.all(prios.map((p) =>
      new Deno.Command(cmd, {
        args: [...pre, "set-priority", `--vm-uuid=${UUID1}`, `--priority=${p}`, "--yes"],
        clearEnv: true,
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", ...h.env },
        stdout: "piped",
        stderr: "piped",
      }).output()
    ));
    const dec = new TextDecoder();
    const ok = runs.filter((r) => r.code === 0);
    assert.ok(ok.length >= 1, "at least one applies");
    for (const r of runs.filter((r) => r.code !== 0)) {
      assert.equal(r.code, 1);
      assert.match(
        dec.decode(r.stderr),
        /^error: VM \S+ is being changed by another vgpu-admin \(set-priority, pid \d+, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\); wait for it to finish, then run the command again$/m,
      );
    }
    assertPromiseHolds(h, `parallel set-priority (${power})`, power);
  });
}

Deno.test("prompt race: admin 2 is refused while admin 1's question is open; admin 1's change lands", async () => {
  const h = await runningHost();
  let second: { code: number; stderr: string } | null = null;
  const r = await runInProcess(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low"], {
    env: h.env,
    interactive: true,
    answers: ["yes"],
    // while the question is open, a second admin tries a change of the same VM
    onAsk: async () => {
      second = await runInProcess(SET_POOL_B, { env: h.env });
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(second!.code, 1);
  assert.match(second!.stderr, /is being changed by another vgpu-admin \(set-priority, pid/);
  assert.deepEqual(row(h), { pool_id: "A", priority: 0, vm_id: 1 });
  assertPromiseHolds(h, "prompt race");
});

Deno.test("re-check: the VM was stopped while the question was open: nothing changes, exit 1", async () => {
  const h = await runningHost();
  const r = await runInProcess(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low"], {
    env: h.env,
    interactive: true,
    answers: ["yes"],
    onAsk: () =>
      updateState(h.statePath, (s) => {
        findVm(s, UUID1)!.powerState = "halted";
        findVm(s, UUID1)!.residentOn = null;
      }),
  });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^error: VM \S+ changed while the question was open: its power state went from running to halted; nothing changed: run the command again$/m,
  );
  assert.equal(vm(h).powerState, "halted", "not started again by us");
  assert.deepEqual(row(h), { pool_id: "A", priority: 2, vm_id: 1 });
  assert.equal(vm(h).platform[KEY], ORIGINAL_ARGS);
});

Deno.test("re-check: the row was changed by hand while the question was open: nothing changes", async () => {
  const h = await runningHost();
  const r = await runInProcess(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low"], {
    env: h.env,
    interactive: true,
    answers: ["yes"],
    onAsk: () => {
      const db = new DatabaseSync(h.dbPath);
      db.exec(`UPDATE vms SET priority = 1 WHERE vm_uuid = '${UUID1}'`);
      db.close();
      return Promise.resolve();
    },
  });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /changed while the question was open: its configuration is now vGPU pool A, priority medium/,
  );
  assert.equal(vm(h).powerState, "running");
  assert.deepEqual(row(h), { pool_id: "A", priority: 1, vm_id: 1 }, "the other change survives");
});

// ---- recover -----------------------------------------------------------------------------

Deno.test("recover with nothing open: one database read, no xe call, exit 0", async () => {
  const h = await runningHost();
  const calls = readCallLog(readStateSync(h.statePath)).length;
  const r = await runInProcess(["recover", "--yes"], {
    env: { ...h.env, VGPU_XE: "/nonexistent/xe" },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "No interrupted operations: nothing to recover.\n");
  assert.equal(readCallLog(readStateSync(h.statePath)).length, calls);
});

Deno.test("the start hook never waits on a VM's operation lock", async () => {
  const h = await runningHost();
  Deno.mkdirSync(lockDirFor(h.dbPath), { recursive: true });
  const f = Deno.openSync(`${lockDirFor(h.dbPath)}/${UUID1}`, {
    read: true,
    write: true,
    create: true,
  });
  try {
    assert.ok(f.tryLockSync(true));
    const r = await runInProcess(["startup-hook", `--vm-uuid=${UUID1}`, "--reason=none"], {
      env: h.env,
    });
    assert.equal(r.code, 0, r.stderr);
    // ... while a change of that VM is refused at once, naming the holder it cannot read
    const busy = await runInProcess(SET_POOL_B, { env: h.env });
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /is being changed by another vgpu-admin/);
  } finally {
    f.unlockSync(); // as vgpu-admin does: a child forked meanwhile shares the descriptor
    f.close();
  }
  const now = await runInProcess(SET_POOL_B, { env: h.env });
  assert.equal(now.code, 0, "an unlocked file holds nothing: " + now.stderr);
});

Deno.test("store: the row update is a compare-and-set against what the plan read", async () => {
  const { openDatabase } = await import("../src/store/open.ts");
  const { Store } = await import("../src/store/store.ts");
  const dir = tempDir("vgpu-cas-");
  const opened = await openDatabase(`${dir}/db`, { now: () => new Date(), create: true });
  const store = new Store(opened.db, `${dir}/db`, { actor: "t", command: "t" }, () => new Date());
  try {
    store.insertVm({ vmUuid: UUID1, vmName: null, pool: "A", priority: 2, vmId: 1 });
    const planned = { pool: "A" as const, priority: 2 as const, vmId: 1 };
    store.updateVm(UUID1, { pool: "A", priority: 1, vmId: 1 }); // another admin, meanwhile
    assert.throws(
      () => store.updateVm(UUID1, { pool: "B", priority: 2, vmId: 1 }, undefined, planned),
      /was changed by someone else meanwhile \(now vGPU pool A, priority medium, VM ID 1\)/,
    );
    assert.equal(store.getVm(UUID1)!.priority, 1, "the other admin's change survives");
  } finally {
    store.close();
  }
});

Deno.test("two Ctrl-Cs and a terminal that went away: the VM is still put back, exit 130", async () => {
  const h = await runningHost();
  await inject(h, { "vm-param-set": { mode: "delay", ms: 800, times: 1 } });
  const start = readCallLog(readStateSync(h.statePath)).length;
  const child = spawnCli(SET_POOL_B, h.env, { piped: true, detached: true });
  await until(
    "the delayed xe call",
    () =>
      readCallLog(readStateSync(h.statePath)).slice(start).find((c) =>
        c.argv[0] === "vm-param-set"
      ),
  );
  // the reader of both streams is gone (a closed SSH session): writes fail from now on
  await child.stdout.cancel();
  await child.stderr.cancel();
  Deno.kill(-child.pid, "SIGINT");
  await new Promise((r) => setTimeout(r, 50));
  Deno.kill(-child.pid, "SIGINT");
  const status = await child.status;
  assert.equal(status.code, 130);
  assertPromiseHolds(h, "two Ctrl-Cs");
  assert.equal(openEntries(h), 0);
});

Deno.test("a second Ctrl-C is answered with what is happening", async () => {
  const h = await runningHost();
  await inject(h, { "vm-param-get": { mode: "delay", ms: 800, times: 1, match: ARGS_GET } });
  const start = readCallLog(readStateSync(h.statePath)).length;
  const child = spawnCli(SET_POOL_B, h.env, { piped: true, detached: true });
  const out = child.output();
  await until(
    "the delayed xe call",
    () =>
      readCallLog(readStateSync(h.statePath)).slice(start).find((c) =>
        c.argv[0] === "vm-param-get" && c.argv.includes(ARGS_GET[0])
      ),
  );
  Deno.kill(-child.pid, "SIGINT");
  await new Promise((r) => setTimeout(r, 50));
  Deno.kill(-child.pid, "SIGINT");
  const r = await out;
  const stderr = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 130, stderr);
  assert.match(stderr, /^SIGINT received: finishing or undoing the change/m);
  assert.match(
    stderr,
    /^SIGINT received again: the VM is being put back in service .*; this ends on its own/m,
  );
  assert.match(
    stderr,
    /^error: interrupted by SIGINT before saving the new configuration\. Everything was put back\. /m,
  );
  assertPromiseHolds(h, "second Ctrl-C");
});

// ---- a clean shutdown that completes after our wait (xapi's task goes on) ----------------

async function lateShutdownLeftOpen(): Promise<FakeHostEnv> {
  const h = await runningHost();
  await updateState(h.statePath, (s) => {
    findVm(s, UUID1)!.lateShutdownMs = 1500;
  });
  const r = await runInProcess([...SET_POOL_B, "--shutdown-timeout=1"], { env: h.env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /did not shut down .*'vgpu-admin recover --vm-uuid=/);
  assert.equal(openEntries(h), 1, "the entry stays open: the shutdown may still happen");
  // xapi completes the shutdown meanwhile: its halt falls due now (the fake halts the VM at its
  // next call) instead of 1.5 s later
  await updateState(h.statePath, (s) => {
    const vm = findVm(s, UUID1)!;
    assert.equal(vm.powerState, "running", "the shutdown has not completed yet");
    assert.ok(vm.haltAt !== undefined, "the clean shutdown is still under way");
    vm.haltAt = Date.now() - 1;
  });
  return h;
}

Deno.test("a clean shutdown that completes after the wait: recover starts the VM again", async () => {
  const h = await lateShutdownLeftOpen();
  const warned = await runInProcess(["list-vms"], { env: h.env });
  assert.match(warned.stderr, /^warning: VM \S+ has an interrupted set-pool .*last step stopping/m);
  const rec = await runInProcess(["recover", "--yes"], { env: h.env });
  assert.equal(rec.code, 0, rec.stdout + rec.stderr);
  assert.match(rec.stdout, /start the VM again \(it was running\)/);
  assertPromiseHolds(h, "late shutdown, recovered");
  assert.deepEqual(row(h), { pool_id: "A", priority: 2, vm_id: 1 }, "nothing was changed");
});

Deno.test("a clean shutdown that completes after the wait: the next change takes it over and starts the VM", async () => {
  const h = await lateShutdownLeftOpen();
  const r = await runInProcess(SET_POOL_B, { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /stopped it; it will be started again\./);
  assertPromiseHolds(h, "late shutdown, taken over");
  assert.deepEqual(row(h), { pool_id: "B", priority: 2, vm_id: 1 });
  assert.equal(vm(h).bootedArgs, NEW_ARGS);
});
