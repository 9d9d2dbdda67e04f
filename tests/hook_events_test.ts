/**
 * The four hooks as xapi runs them (issue 17 item 5, issue 18 B7, issue 19 item 1): the scripts
 * install-hook writes for vm-pre-start, vm-pre-resume, vm-pre-migrate and vm-post-migrate, run
 * with `-vmuuid U -reason R` and PATH only, calling vgpu-admin (main.ts, which takes the hooks'
 * own entry) against the fake host; and what the script itself guarantees whatever the binary
 * does: a hang, a child left holding the output pipe, a log that is a FIFO nobody reads.
 */
import assert from "node:assert/strict";
import { renderHook } from "../src/ops/install.ts";
import { HOOK_EVENTS, type HookEvent, refusalMarker } from "../src/ops/startup-hook.ts";
import {
  cliCommand,
  fakeHost,
  type FakeHostEnv,
  runAsXenopsd,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  writeCliWrapper,
} from "./helpers.ts";
import { findVm, makeVm, readStateSync, updateState } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const DEVICE_A1 = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";
const DEVICE_B1 = "-device vgpu-stub,pool_id=B,priority=high,vm_id=1";

const REASON: Record<HookEvent, string> = {
  "vm-pre-start": "none",
  "vm-pre-resume": "none",
  "vm-pre-migrate": "source",
  "vm-post-migrate": "destination",
};

/** UUID1 carrying `args`, registered in pool B (so DEVICE_A1 is stale), UUID2 unregistered. */
async function host(o: { args: string; strict?: boolean; other?: string }): Promise<FakeHostEnv> {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web", powerState: "running", platform: { [KEY]: o.args } }),
    makeVm({
      uuid: UUID2,
      nameLabel: "clone",
      powerState: "running",
      platform: o.other === undefined ? {} : { [KEY]: o.other },
    }),
  ]);
  const run = (argv: string[]) => runInProcess(argv, { env: h.env });
  const reg = await run([
    "register-vm",
    `--vm-uuid=${UUID1}`,
    "--pool=B",
    "--priority=high",
    "--vm-id=1",
    "--offline",
  ]);
  assert.equal(reg.code, 0, reg.stderr);
  if (o.strict) assert.equal((await run(["settings", "hook-strict", "on"])).code, 0);
  return h;
}

/** The hook script for `event` as install-hook writes it, calling `binary` with the fake's db. */
function script(dir: string, event: HookEvent, binary: string, db: string | null): string {
  const path = `${dir}/${event}-10-vgpu-admin`;
  Deno.writeTextFileSync(path, renderHook(binary, db, event), { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return path;
}

/** vgpu-admin as the hooks reach it: the CLI with the fake host's environment (no VGPU_DB). */
function wrapper(h: FakeHostEnv, extra: Record<string, string> = {}): string {
  const path = `${h.dir}/vgpu-admin`;
  const { VGPU_DB: _db, ...env } = h.env;
  writeCliWrapper(path, { ...env, ...extra });
  return path;
}

function logLines(h: FakeHostEnv): string[] {
  try {
    return Deno.readTextFileSync(h.logPath).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

function args(h: FakeHostEnv, uuid = UUID1): string | undefined {
  return findVm(readStateSync(h.statePath), uuid)?.platform[KEY];
}

async function staleRuns(h: FakeHostEnv): Promise<string> {
  const r = await runInProcess(["status"], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

const xapi = (path: string, event: HookEvent, uuid = UUID1) =>
  runAsXenopsd(path, ["-vmuuid", uuid, "-reason", REASON[event], "-vmdomid", "4"]);

Deno.test("hooks: vm-pre-resume is checked like a start (repaired; strict refuses with 2)", async () => {
  const h = await host({ args: DEVICE_A1 });
  const r = await xapi(script(h.dir, "vm-pre-resume", wrapper(h), h.dbPath), "vm-pre-resume");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(args(h), DEVICE_B1, "repaired for the next start");
  assert.match(logLines(h)[0], /hook=vm-pre-resume reason=none action=repaired result=warning /);
  assert.match(await staleRuns(h), /running with stale vGPU args since/);

  const s = await host({ args: DEVICE_A1, strict: true });
  const refused = await xapi(script(s.dir, "vm-pre-resume", wrapper(s), s.dbPath), "vm-pre-resume");
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /strict mode refuses this resume/);
  assert.ok(!refused.stdout.includes(refusalMarker(UUID1)), "the marker stays in the script");
});

Deno.test("hooks: vm-pre-migrate warns about stale args and a vm_id clash, changes nothing, never 2 standalone", async () => {
  for (const strict of [false, true]) {
    const h = await host({ args: DEVICE_A1, strict, other: DEVICE_B1 });
    const bin = wrapper(h);
    const path = script(h.dir, "vm-pre-migrate", bin, h.dbPath);
    const r = await xapi(path, "vm-pre-migrate");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(args(h), DEVICE_A1, "the source changes nothing");
    const line = logLines(h)[0];
    assert.match(line, /hook=vm-pre-migrate reason=source action=stale-args result=warning /);
    assert.match(line, /the destination runs them until the VM restarts/);
    // an unregistered VM leaving with a registered VM's vm_id
    const clone = await xapi(path, "vm-pre-migrate", UUID2);
    assert.equal(clone.code, 0, clone.stderr);
    assert.match(logLines(h)[1], /action=collision result=warning .*vm_id=1, registered to VM /);
    assert.doesNotMatch(logLines(h)[1], /strict mode refuses/);
  }
});

Deno.test("hooks: vm-post-migrate logs the arrival and records that the VM runs its current args", async () => {
  // a pending change: the VM started with stale args, the start hook repaired them for the next
  // start and recorded the stale run
  const h = await host({ args: DEVICE_A1 });
  const start = await xapi(script(h.dir, "vm-pre-start", wrapper(h), h.dbPath), "vm-pre-start");
  assert.equal(start.code, 0, start.stderr);
  assert.equal(args(h), DEVICE_B1);
  assert.match(await staleRuns(h), /running with stale vGPU args/);
  const r = await xapi(script(h.dir, "vm-post-migrate", wrapper(h), h.dbPath), "vm-post-migrate");
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    logLines(h).at(-1)!,
    /hook=vm-post-migrate reason=destination action=arrived result=ok arrived by migration; .*the pending change took effect/,
  );
  assert.doesNotMatch(await staleRuns(h), /stale/, "the migration carried the current args");
});

Deno.test("hooks: vm-post-migrate with stale args in strict mode repairs and exits 0, never 2", async () => {
  const h = await host({ args: DEVICE_A1, strict: true });
  const r = await xapi(script(h.dir, "vm-post-migrate", wrapper(h), h.dbPath), "vm-post-migrate");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(args(h), DEVICE_B1);
  assert.match(logLines(h)[0], /action=repaired result=warning /);
  assert.match(await staleRuns(h), /running with stale vGPU args/);
});

Deno.test("hooks: vm-post-migrate exits 0 or 1 whatever happens (no binary, broken db, hanging xe, binary exits 2)", async () => {
  const h = await host({ args: DEVICE_B1 });
  const dir = tempDir("vgpu-post-migrate-");
  const cases: [string, string][] = [];
  // no binary at all
  cases.push(["missing binary", script(dir, "vm-post-migrate", `${dir}/nope/vgpu-admin`, null)]);
  // a database that is not one
  const broken = `${dir}/broken.db`;
  Deno.writeTextFileSync(broken, "this is no database ".repeat(100));
  cases.push(["broken database", script(`${dir}`, "vm-post-migrate", wrapper(h), broken)]);
  // a binary that answers 2 with the refusal marker: still not 2 from post-migrate
  const two = `${dir}/two`;
  Deno.writeTextFileSync(two, `#!/bin/sh\necho '${refusalMarker(UUID1)}'\nexit 2\n`);
  Deno.chmodSync(two, 0o755);
  const twoDir = `${dir}/t`;
  Deno.mkdirSync(twoDir);
  cases.push(["a binary exiting 2 with the marker", script(twoDir, "vm-post-migrate", two, null)]);
  for (const [label, path] of cases) {
    const r = await xapi(path, "vm-post-migrate");
    assert.equal(r.code, 1, `${label}: ${r.stderr}`);
  }
  // xe hangs: the program's bound (and the script's) end it with 1
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-param-get": { mode: "hang" } };
  });
  const hangDir = `${dir}/h`;
  Deno.mkdirSync(hangDir);
  const hang = script(hangDir, "vm-post-migrate", wrapper(h), h.dbPath);
  Deno.writeTextFileSync(
    hang,
    Deno.readTextFileSync(hang).replace(/^BOUND_SECONDS=.*$/m, "BOUND_SECONDS=2"),
  );
  const r = await xapi(hang, "vm-post-migrate");
  assert.equal(r.code, 1, r.stderr);
});

// ---- what the script guarantees whatever the binary does (issue 18 B7) ----------------------

/** A stand-in binary: `body` in sh; the pids it leaves behind are killed after the test. */
function fakeBinary(dir: string, body: string): string {
  const path = `${dir}/vgpu-admin`;
  Deno.writeTextFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return path;
}

function killPids(file: string): void {
  let text = "";
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return;
  }
  for (const pid of text.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // gone already
    }
  }
}

for (const event of HOOK_EVENTS) {
  Deno.test(`hook script ${event}: a binary that hangs is killed at the script's bound -> 1`, async () => {
    const dir = tempDir("vgpu-hang-");
    const pids = `${dir}/pids`;
    // `exec sleep`: the hung process is the binary itself; its pid is recorded for the cleanup
    const bin = fakeBinary(dir, `echo $$ >> '${pids}'\nexec sleep 300`);
    const path = script(dir, event, bin, null);
    Deno.writeTextFileSync(
      path,
      // coreutils timeout takes fractions: the bound is 0.2 s here (13 s in the product)
      Deno.readTextFileSync(path).replace(/^BOUND_SECONDS=.*$/m, "BOUND_SECONDS=0.2"),
    );
    try {
      const r = await xapi(path, event);
      assert.equal(r.code, 1, r.stderr);
    } finally {
      killPids(pids);
    }
  });
}

Deno.test("hook script: a child left holding the output pipe does not hold the start", async () => {
  const dir = tempDir("vgpu-holder-");
  const pids = `${dir}/pids`;
  // the binary answers at once but leaves a process (in its own session, out of the reach of
  // timeout's process group) that keeps its stdout and stderr open
  const bin = fakeBinary(
    dir,
    `setsid sleep 300 &\necho $! >> '${pids}'\necho checked\nexit 0`,
  );
  try {
    for (const event of HOOK_EVENTS) {
      const r = await xapi(script(dir, event, bin, null), event);
      assert.equal(r.code, 0, `${event}: ${r.stderr}`);
      assert.match(r.stderr, /^checked$/m);
    }
  } finally {
    killPids(pids);
  }
});

Deno.test("hook script: a hook log that is a FIFO nobody reads never blocks the start", async () => {
  const h = await host({ args: DEVICE_B1 });
  const fifo = `${h.dir}/fifo.log`;
  const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.equal(mk.code, 0);
  const path = script(h.dir, "vm-pre-start", wrapper(h, { VGPU_LOG: fifo }), h.dbPath);
  const r = await xapi(path, "vm-pre-start");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /cannot write .*fifo\.log: it is a named pipe \(FIFO\)/);
});

Deno.test("the hooks' entry loads none of the CLI: no command table, commander or other command", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../hook.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const files: string[] = info.modules.map((m: { specifier: string }) => m.specifier);
  const bad = files.filter((f) =>
    /\/src\/cli\/|commander|\/src\/ops\/(?!startup-hook|hook-log|xe-write)/.test(f)
  );
  assert.deepEqual(bad, []);
  assert.ok(files.some((f) => f.endsWith("/src/hook/main.ts")));
  // and main.ts hands startup-hook to it before anything else loads
  assert.equal(cliCommand().length > 0, true);
});

Deno.test("the hooks' quick open knows the current schema version and the default database", async () => {
  const { HOOK_SCHEMA_VERSION } = await import("../src/hook/db.ts");
  const { SCHEMA_VERSION } = await import("../src/store/migrations.ts");
  assert.equal(HOOK_SCHEMA_VERSION, SCHEMA_VERSION);
  const { HOOK_DEFAULT_DB } = await import("../src/hook/main.ts");
  const { DEFAULT_DB_PATH } = await import("../src/store/open.ts");
  assert.equal(HOOK_DEFAULT_DB, DEFAULT_DB_PATH);
});
