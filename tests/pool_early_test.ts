// `pool status` spawns its three xe calls (vm-list, pool-list, host-list) before it loads the
// command and opens the database (src/cli/early-pool.ts, issue 17's bound): through the CLI as a
// process against the fake pool. The runner takes each call over (three calls, not six), they
// stay in our process group (reads), a database error still comes first and leaves no xe running, the settings' time bound still ends
// a hanging call, and a line that is not surely pool status spawns nothing.
import assert from "node:assert/strict";
import { openDatabase } from "../src/store/open.ts";
import { readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";
import { processesWithEnv, runCli, until } from "./helpers.ts";
import { withScripts } from "./xe-scripts.ts";
import { fakePool, poolVm } from "./pool-helpers.ts";

const READS = ["host-list", "pool-list", "vm-list"];

function verbsSince(statePath: string, from: number): string[] {
  return readCallLog(readStateSync(statePath)).slice(from).map((c) => c.argv[0]).sort();
}

/** Every process of a run carries VGPU_TEST_RUN=<mark> (xe and its children too). */
async function markedGone(mark: string): Promise<void> {
  await until(
    "the early calls to end",
    () => processesWithEnv("VGPU_TEST_RUN", mark).length === 0 || undefined,
    5_000,
  );
}

function killMarked(mark: string): void {
  for (const pid of processesWithEnv("VGPU_TEST_RUN", mark)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
}

function calls(statePath: string): number {
  return readCallLog(readStateSync(statePath)).length;
}

Deno.test("pool status: the calls spawned at start are the ones it reads (three, not six)", async () => {
  const p = fakePool(3, [poolVm(1), poolVm(2)]);
  const [h1] = p.hosts;
  for (
    const argv of [
      ["pool", "status"],
      ["pool-status", "--format=json"],
      ["--db", h1.dbPath, "pool", "status", "--format", "table"],
      ["pool", "status", `--db=${h1.dbPath}`],
    ]
  ) {
    const before = calls(p.statePath);
    const r = await runCli(argv, { env: h1.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /Pool mode: off|"pool_mode": false/);
    assert.deepEqual(verbsSince(p.statePath, before), READS, argv.join(" "));
  }
});

Deno.test("pool status: a database error comes first and leaves none of its early calls running", async () => {
  // sh stand-ins for xe: each logs "<pid> <verb> <process group>" and hangs. The database error
  // may come, and the CLI end its calls, before a stand-in has logged anything: every process of
  // the run carries a mark in its environment, and that is what must be gone.
  const xe = `echo "$$ $1 $(cut -d' ' -f5 /proc/$$/stat)" >> "$(dirname "$0")/calls"; sleep 30`;
  await withScripts({ xe }, async (dir) => {
    const db = `${dir}/vgpu_config.db`;
    Deno.writeTextFileSync(db, "not a database, not even close ".repeat(200));
    const mark = crypto.randomUUID();
    try {
      const r = await runCli(["pool", "status"], {
        env: { VGPU_XE: `${dir}/xe`, VGPU_DB: db, VGPU_TEST_RUN: mark },
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: .*vgpu_config\.db/);
      assert.equal(r.stderr.split("\n").length, 2, r.stderr);
      await markedGone(mark);
    } finally {
      killMarked(mark);
    }
  });
});

Deno.test("pool status: its early calls are reads in our process group, ended at the time bound", async () => {
  // the same stand-ins, with a database: each has time to log before the 1 s bound ends it
  const xe = `echo "$$ $1 $(cut -d' ' -f5 /proc/$$/stat)" >> "$(dirname "$0")/calls"; sleep 30`;
  await withScripts({ xe }, async (dir) => {
    const env = { VGPU_XE: `${dir}/xe`, VGPU_DB: `${dir}/vgpu_config.db` };
    (await openDatabase(env.VGPU_DB, { now: () => new Date(), create: true })).db.close();
    const set = await runCli(["settings", "xe-timeout", "1"], { env });
    assert.equal(set.code, 0, set.stderr);
    const mark = crypto.randomUUID();
    try {
      const r = await runCli(["pool", "status"], { env: { ...env, VGPU_TEST_RUN: mark } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /did not answer within 1 s/);
      const made = Deno.readTextFileSync(`${dir}/calls`).trim().split("\n").map((l) =>
        l.split(" ")
      );
      assert.deepEqual(made.map(([, verb]) => verb).sort(), READS);
      // reads: in our process group, not each in a session of its own (a fork of the whole CLI;
      // only calls that change something need shielding from the terminal)
      for (const [pid, , group] of made) assert.notEqual(group, pid, "xe leads its own group");
      await markedGone(mark);
    } finally {
      killMarked(mark);
    }
  });
});

Deno.test("pool status: a hanging early call ends at the settings' time bound", async () => {
  const p = fakePool(2, [poolVm(1)]);
  const [h1] = p.hosts;
  (await openDatabase(h1.dbPath, { now: () => new Date(), create: true })).db.close();
  const set = await runCli(["settings", "xe-timeout", "1"], { env: h1.env });
  assert.equal(set.code, 0, set.stderr);
  await updateState(p.statePath, (s) => {
    s.faults = { "host-list": { mode: "hang" } };
  });
  const r = await runCli(["pool", "status"], { env: h1.env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /xe host-list did not answer within 1 s/);
  await until(
    "the hanging host-list to end",
    () => processesWithEnv("FAKE_XE_STATE", p.statePath).length === 0 || undefined,
    10_000,
  );
});

Deno.test("pool status: a line that is not surely pool status spawns no early xe", async () => {
  const p = fakePool(2, [poolVm(1)]);
  const [h1] = p.hosts;
  for (
    const argv of [
      ["pool", "status", "--help"],
      ["pool", "status", "--format=xml"],
      ["pool", "status", "extra"],
      ["pool"],
      ["pool", "--db", h1.dbPath, "status"],
      ["status", "pool"],
    ]
  ) {
    const before = calls(p.statePath);
    await runCli(argv, { env: h1.env });
    assert.deepEqual(verbsSince(p.statePath, before), [], argv.join(" "));
  }
});
