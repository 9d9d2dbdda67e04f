/**
 * The start hook (design.md §4): `vgpu-admin startup-hook` in-process against the fake host, the
 * installed POSIX sh script run the way xenopsd runs it (PATH only, xapi's flags), and the fake's
 * vm-start running the hook directory like xenopsd (strict refusal, stale start).
 */
import assert from "node:assert/strict";
import {
  fakeHost,
  type FakeHostEnv,
  fileHash,
  ROOT,
  runAsXenopsd,
  runInProcess,
  UUID1,
  UUID2,
  UUID3,
  writeCliWrapper,
} from "./helpers.ts";
import {
  FAKE_XE_PATH,
  type FakeVm,
  findVm,
  HOOK_PATH,
  makeVm,
  readHookLog,
  readStateSync,
  updateState,
} from "./fake-xe/state.ts";

const KEY = "device-model-args";
const DEVICE_A1 = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";
const DEVICE_B1 = "-device vgpu-stub,pool_id=B,priority=high,vm_id=1";
const OTHER = "-global kvm-pit.lost_tick_policy=discard";
const HOOK_SCRIPT = `${ROOT}/hooks/vm-pre-start/10-vgpu-admin`;

type Run = Awaited<ReturnType<typeof runInProcess>>;

interface Host extends FakeHostEnv {
  run(argv: string[], o?: Parameters<typeof runInProcess>[1]): Promise<Run>;
}

function host(vms: FakeVm[]): Host {
  const env = fakeHost(vms);
  return {
    ...env,
    run: (argv, o = {}) => runInProcess(argv, { ...o, env: { ...env.env, ...o.env } }),
  };
}

/** UUID1 "web" carrying `args` (undefined: no key), registered in `pool` with vm_id 1. */
async function setup(
  o: { args?: string; pool?: "A" | "B"; power?: "running" | "halted"; others?: FakeVm[] } = {},
): Promise<Host> {
  const platform: Record<string, string> = { viridian: "true" };
  if (o.args !== undefined) platform[KEY] = o.args;
  const h = host([
    makeVm({ uuid: UUID1, nameLabel: "web", powerState: o.power ?? "halted", platform }),
    ...(o.others ?? []),
  ]);
  const r = await h.run([
    "register-vm",
    `--vm-uuid=${UUID1}`,
    "--vm-name=web",
    `--pool=${o.pool ?? "A"}`,
    "--priority=high",
    "--vm-id=1",
    "--offline",
  ]);
  assert.equal(r.code, 0, r.stderr);
  return h;
}

function vmArgs(h: FakeHostEnv, uuid = UUID1): string | undefined {
  return findVm(readStateSync(h.statePath), uuid)?.platform[KEY];
}

function logLines(h: FakeHostEnv): string[] {
  try {
    return Deno.readTextFileSync(h.logPath).split("\n").filter((l) => l !== "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

async function strict(h: Host): Promise<void> {
  const r = await h.run(["settings", "hook-strict", "on"]);
  assert.equal(r.code, 0, r.stderr);
}

const hook = (uuid: string) => ["startup-hook", `--vm-uuid=${uuid}`, "--reason=none"];

// ---- startup-hook in-process ----------------------------------------------------------------

Deno.test("startup-hook: registered VM in sync -> exit 0, action=in-sync, nothing written", async () => {
  const h = await setup({ args: `${OTHER} ${DEVICE_A1}` });
  const before = await fileHash(h.statePath);
  const r = await h.run(hook(UUID1));
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""]);
  assert.equal(await fileHash(h.statePath), before);
  const log = logLines(h);
  assert.equal(log.length, 1);
  assert.match(
    log[0],
    new RegExp(
      `^\\d{4}-\\d\\d-\\d\\dT\\S+Z vm=${UUID1} reason=none action=in-sync result=ok `,
    ),
  );
});

for (
  const [label, args, repaired] of [
    ["stale", `${OTHER} ${DEVICE_A1}`, `${OTHER} ${DEVICE_B1}`],
    ["missing", undefined, DEVICE_B1],
  ] as const
) {
  Deno.test(`startup-hook: ${label} args -> repaired, stale start recorded, exit 0`, async () => {
    const h = await setup({ args, pool: "B", power: "running" });
    const r = await h.run(hook(UUID1));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /this start runs with the old args/);
    assert.equal(vmArgs(h), repaired);
    const log = logLines(h);
    assert.equal(log.length, 1);
    assert.match(log[0], new RegExp(`vm=${UUID1} reason=none action=repaired result=warning `));
    for (const cmd of [["status"], ["scan-vms"]]) {
      const s = await h.run(cmd);
      assert.equal(s.code, 0, s.stderr);
      assert.match(
        s.stdout,
        /running with stale vGPU args since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}: restart to apply/,
        cmd[0],
      );
    }
    const show = await h.run(["show-vm", `--vm-uuid=${UUID1}`, "--format=json"]);
    assert.notEqual(JSON.parse(show.stdout).vm.stale_since, null);
  });
}

Deno.test("startup-hook: strict mode refuses a stale start with exit 2, after repairing", async () => {
  const h = await setup({ args: `${OTHER} ${DEVICE_A1}`, pool: "B", power: "running" });
  await strict(h);
  const r = await h.run(hook(UUID1));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /strict mode refuses this start/);
  assert.equal(vmArgs(h), `${OTHER} ${DEVICE_B1}`);
  assert.match(logLines(h)[0], /action=repaired result=refused /);
  // a refused start does not run, so it does not run stale either
  const s = await h.run(["status"]);
  assert.equal(s.code, 0, s.stderr);
  assert.doesNotMatch(s.stdout, /stale/);
  const show = await h.run(["show-vm", `--vm-uuid=${UUID1}`, "--format=json"]);
  assert.equal(JSON.parse(show.stdout).vm.stale_since, null);
});

Deno.test("startup-hook: unregistered VM is left exactly as it is", async () => {
  const other = makeVm({
    uuid: UUID2,
    nameLabel: "hand-made",
    platform: { [KEY]: "-device vgpu-stub,pool_id=B,priority=low,vm_id=42 -m 512" },
  });
  const plain = makeVm({ uuid: UUID3, nameLabel: "plain", platform: {} });
  const h = await setup({ args: DEVICE_A1, others: [other, plain] });
  await strict(h); // strict mode has nothing to refuse either
  const before = await fileHash(h.statePath);
  for (const uuid of [UUID2, UUID3]) {
    const r = await h.run(hook(uuid));
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""], uuid);
  }
  assert.equal(await fileHash(h.statePath), before);
  const log = logLines(h);
  assert.equal(log.length, 2);
  assert.match(log[0], new RegExp(`vm=${UUID2} reason=none action=unregistered result=ok`));
  assert.match(log[1], new RegExp(`vm=${UUID3} reason=none action=unregistered result=ok`));
});

Deno.test("startup-hook: unregistered clone carrying a registered vm_id -> collision warning", async () => {
  const clone = makeVm({ uuid: UUID2, nameLabel: "web-clone", platform: { [KEY]: DEVICE_A1 } });
  const h = await setup({ args: DEVICE_A1, others: [clone] });
  const before = await fileHash(h.statePath);
  const r = await h.run(hook(UUID2));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`vm_id=1, registered to VM ${UUID1}`));
  assert.match(
    logLines(h)[0],
    new RegExp(`vm=${UUID2} reason=none action=collision result=warning`),
  );
  assert.match(logLines(h)[0], new RegExp(`fix: vgpu-admin register-vm --vm-uuid=${UUID2}`));
  assert.equal(await fileHash(h.statePath), before, "the clone is not touched");

  await strict(h);
  const s = await h.run(hook(UUID2));
  assert.equal(s.code, 2);
  assert.match(logLines(h)[1], /action=collision result=refused/);
  assert.equal(vmArgs(h, UUID2), DEVICE_A1, "still untouched");
});

Deno.test("startup-hook: bad input exits 1, never 2 (2 would abort the VM start)", async () => {
  const h = await setup({ args: DEVICE_A1 });
  await strict(h);
  for (
    const argv of [
      ["startup-hook", "--vm-uuid=not-a-uuid", "--reason=none"],
      ["startup-hook", "--vm-uuid="],
      ["startup-hook"],
      ["startup-hook", `--vm-uuid=${UUID1}`, "--no-such-flag"],
    ]
  ) {
    const r = await h.run(argv);
    assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stderr}`);
    assert.notEqual(r.stderr, "");
  }
});

Deno.test("startup-hook: VM unknown to the host -> exit 1, logged", async () => {
  const h = await setup({ args: DEVICE_A1 });
  const r = await h.run(hook(UUID3));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: /);
  const log = logLines(h);
  assert.equal(log.length, 1);
  assert.match(log[0], new RegExp(`vm=${UUID3} reason=none action=error result=failed `));
});

Deno.test("startup-hook: xe hanging -> exit 1 within the bound", async () => {
  const h = await setup({ args: DEVICE_A1 });
  const set = await h.run(["settings", "xe-timeout", "2"]);
  assert.equal(set.code, 0, set.stderr);
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-param-get": { mode: "hang" } };
  });
  const t0 = performance.now();
  const r = await h.run(hook(UUID1));
  const took = performance.now() - t0;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /did not answer within 2 s/);
  assert.ok(took < 10_000, `returned after ${Math.round(took)} ms`);
  assert.match(logLines(h)[0], /action=error result=failed/);
});

Deno.test("startup-hook: the log rotates at 1 MiB keeping one .1 copy", async () => {
  const h = await setup({ args: DEVICE_A1 });
  const full = ("x".repeat(1023) + "\n").repeat(1024);
  assert.equal(full.length, 1024 * 1024);
  Deno.writeTextFileSync(h.logPath, full);
  Deno.writeTextFileSync(`${h.logPath}.1`, "an older copy\n");
  const r = await h.run(hook(UUID1));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.readTextFileSync(`${h.logPath}.1`), full, "the full log became .1");
  assert.equal(logLines(h).length, 1);
  assert.match(logLines(h)[0], /action=in-sync/);
  // below the cap: appended, .1 left alone, no second copy
  const again = await h.run(hook(UUID1));
  assert.equal(again.code, 0, again.stderr);
  assert.equal(logLines(h).length, 2);
  assert.equal(Deno.statSync(`${h.logPath}.1`).size, 1024 * 1024);
  const names = [...Deno.readDirSync(h.dir)].map((e) => e.name).filter((n) =>
    n.startsWith("vgpu-vm-startup.log")
  ).sort();
  assert.deepEqual(names, ["vgpu-vm-startup.log", "vgpu-vm-startup.log.1"]);
});

// ---- the installed hook script, run as xenopsd runs it --------------------------------------

/** A copy of the hook script with its VGPU_ADMIN= and VGPU_DB_PATH= lines set. */
function installHook(dir: string, admin: string, dbPath = ""): string {
  const script = Deno.readTextFileSync(HOOK_SCRIPT)
    .replace(/^VGPU_ADMIN=.*$/m, `VGPU_ADMIN='${admin}'`)
    .replace(/^VGPU_DB_PATH=.*$/m, `VGPU_DB_PATH='${dbPath}'`);
  Deno.mkdirSync(`${dir}/vm-pre-start`, { recursive: true });
  const path = `${dir}/vm-pre-start/10-vgpu-admin`;
  Deno.writeTextFileSync(path, script, { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return path;
}

/** vgpu-admin as the hook reaches it: a wrapper carrying the fake host's environment. */
function wrapper(h: FakeHostEnv): string {
  const path = `${h.dir}/vgpu-admin`;
  // VGPU_DB is left out on purpose: the hook passes --db from its VGPU_DB_PATH line
  const { VGPU_DB: _db, ...env } = h.env;
  writeCliWrapper(path, env);
  return path;
}

function stub(dir: string, name: string, body: string): string {
  const path = `${dir}/${name}`;
  Deno.writeTextFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return path;
}

Deno.test("hook script: a missing vgpu-admin binary -> 1 (the start continues)", async () => {
  const h = await setup({ args: DEVICE_A1 });
  const script = installHook(h.dir, `${h.dir}/no-such-dir/vgpu-admin`, h.dbPath);
  const r = await runAsXenopsd(script, ["-vmuuid", UUID1, "-reason", "none"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /missing or not executable; the VM goes on unchecked/);
});

Deno.test("hook script: no -vmuuid, or -vmuuid without a value -> 1", async () => {
  const h = await setup({ args: DEVICE_A1 });
  const script = installHook(h.dir, wrapper(h), h.dbPath);
  for (const args of [[], ["-reason", "none"], ["-reason", "none", "-vmuuid"]]) {
    const r = await runAsXenopsd(script, args);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.stderr, /no -vmuuid given/);
  }
  assert.deepEqual(logLines(h), [], "vgpu-admin was not run");
});

Deno.test("hook script: a malformed uuid reaches vgpu-admin, which exits 1 (not 2)", async () => {
  const h = await setup({ args: DEVICE_A1 });
  await strict(h);
  const script = installHook(h.dir, wrapper(h), h.dbPath);
  const r = await runAsXenopsd(script, ["-vmuuid", "not-a-uuid", "-reason", "none"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /startup-hook: /);
  // the refused run still leaves its line in the log (issue 11 point 9)
  const lines = logLines(h);
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(
    lines[0],
    /^\S+Z vm=not-a-uuid reason=none action=malformed result=failed startup-hook: invalid /,
  );
});

Deno.test("hook script: a crashing or signalled binary -> 1", async () => {
  const h = await setup({ args: DEVICE_A1 });
  for (
    const [name, body] of [
      ["segv", "kill -SEGV $$"],
      ["exit139", "exit 139"],
      ["killed", "kill -KILL $$"],
      ["exit3", "echo oops >&2; exit 3"],
    ]
  ) {
    const script = installHook(`${h.dir}/${name}`, stub(h.dir, `${name}-bin`, body), h.dbPath);
    const r = await runAsXenopsd(script, ["-vmuuid", UUID1, "-reason", "none"]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
  }
});

Deno.test("hook script: flags in any order, -vmdomid ignored -> in sync, 0", async () => {
  const h = await setup({ args: DEVICE_A1 });
  const script = installHook(h.dir, wrapper(h), h.dbPath);
  const r1 = await runAsXenopsd(script, ["-reason", "none", "-vmdomid", "5", "-vmuuid", UUID1]);
  assert.equal(r1.code, 0, r1.stderr);
  const r2 = await runAsXenopsd(script, ["-vmdomid", "7", "-vmuuid", UUID1.toUpperCase()]);
  assert.equal(r2.code, 0, r2.stderr);
  const log = logLines(h);
  assert.equal(log.length, 2);
  for (const line of log) {
    assert.match(line, new RegExp(`vm=${UUID1} reason=none action=in-sync result=ok`));
  }
});

Deno.test("hook script: strict refusal of stale args passes 2 through, args repaired", async () => {
  const h = await setup({ args: DEVICE_A1, pool: "B" });
  await strict(h);
  const script = installHook(h.dir, wrapper(h), h.dbPath);
  const r = await runAsXenopsd(script, ["-vmuuid", UUID1, "-reason", "none", "-vmdomid", "3"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /strict mode refuses this start/);
  assert.equal(vmArgs(h), DEVICE_B1);
  assert.match(logLines(h)[0], /action=repaired result=refused/);
});

// ---- through the fake's vm-start, which runs the hook directory like xenopsd ----------------

async function xe(h: FakeHostEnv, ...args: string[]) {
  const out = await new Deno.Command(FAKE_XE_PATH, {
    args,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? HOOK_PATH, ...h.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function hookedHost(o: { strict: boolean }): Promise<Host> {
  const h = await setup({ args: `${OTHER} ${DEVICE_A1}`, pool: "B" });
  if (o.strict) await strict(h);
  installHook(h.dir, wrapper(h), h.dbPath);
  await updateState(h.statePath, (s) => {
    s.hookDir = `${h.dir}/vm-pre-start`;
    s.hookLog = `${h.dir}/hook-runs.jsonl`;
  });
  return h;
}

Deno.test("vm-start with the hook: strict refusal aborts the start, VM stays halted", async () => {
  const h = await hookedHost({ strict: true });
  const r = await xe(h, "vm-start", `uuid=${UUID1}`);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^3rd party xapi hook failed\n/);
  assert.match(r.stderr, /hook_name: vm-pre-start\/10-vgpu-admin/);
  assert.match(r.stderr, /exit_code: 2/);
  const state = readStateSync(h.statePath);
  const vm = findVm(state, UUID1)!;
  assert.equal(vm.powerState, "halted");
  assert.equal(vm.bootedArgs, undefined);
  assert.equal(vm.platform[KEY], `${OTHER} ${DEVICE_B1}`, "repaired for the next start");
  assert.deepEqual(readHookLog(state).map((e) => e.exit), [2]);
  // the next start is in sync and goes ahead
  const again = await xe(h, "vm-start", `uuid=${UUID1}`);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(findVm(readStateSync(h.statePath), UUID1)!.bootedArgs, `${OTHER} ${DEVICE_B1}`);
});

Deno.test("vm-start with the hook: non-strict repair starts with the OLD args, stale recorded", async () => {
  const h = await hookedHost({ strict: false });
  const r = await xe(h, "vm-start", `uuid=${UUID1}`);
  assert.equal(r.code, 0, r.stderr);
  let state = readStateSync(h.statePath);
  let vm = findVm(state, UUID1)!;
  assert.equal(vm.powerState, "running");
  assert.equal(vm.bootedArgs, `${OTHER} ${DEVICE_A1}`, "xapi read the args before the hook");
  assert.equal(vm.platform[KEY], `${OTHER} ${DEVICE_B1}`);
  assert.deepEqual(readHookLog(state).map((e) => e.exit), [0]);
  assert.match(logLines(h)[0], /action=repaired result=warning/);
  const s = await h.run(["status"]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(
    s.stdout,
    /running with stale vGPU args since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}: restart to apply/,
  );

  // restarting applies the args and clears the stale mark
  assert.equal((await xe(h, "vm-shutdown", `uuid=${UUID1}`)).code, 0);
  assert.equal((await xe(h, "vm-start", `uuid=${UUID1}`)).code, 0);
  state = readStateSync(h.statePath);
  vm = findVm(state, UUID1)!;
  assert.equal(vm.bootedArgs, `${OTHER} ${DEVICE_B1}`);
  assert.match(logLines(h)[1], /action=in-sync result=ok/);
  const s2 = await h.run(["status"]);
  assert.doesNotMatch(s2.stdout, /stale/);
});
