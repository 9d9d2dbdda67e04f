/**
 * The fake xe as a pool of several hosts (xe-reference.md "Pools"): the semantics pool mode's
 * tests rely on. Each call runs the fake as a subprocess through its wrapper, as vgpu-admin does.
 */
import assert from "node:assert/strict";
import {
  FAKE_XE_PATH,
  type FakeState,
  fakeXeEnv,
  poolState,
  readHookLog,
  readStateSync,
  updateState,
  writeHookScript,
  writeStateSync,
} from "./fake-xe/state.ts";
import { poolVm } from "./pool-helpers.ts";
import { tempDir } from "./helpers.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const H1 = "0b1e7c3a-1111-4a5b-8c9d-000000000001";
const H2 = "0b1e7c3a-1111-4a5b-8c9d-000000000002";
const POOL = "0b1e7c3a-3333-4a5b-8c9d-00000000f001";
const DUP = "You tried to add a key-value pair to a map, but that key is already there.";

function setup(patch: (s: FakeState, dir: string) => void = () => {}) {
  const dir = tempDir("fake-pool-");
  const statePath = `${dir}/state.json`;
  const s = { ...poolState(2, { vms: [poolVm(1)] }), hookLog: `${dir}/hooks.jsonl` };
  patch(s, dir);
  writeStateSync(statePath, s);
  const xe = (host: string, ...args: string[]) => {
    const child = new Deno.Command(FAKE_XE_PATH, {
      args,
      env: fakeXeEnv(statePath, host),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return child;
  };
  const run = async (host: string, ...args: string[]): Promise<Run> => {
    const out = await xe(host, ...args).output();
    const d = new TextDecoder();
    return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
  };
  return { dir, statePath, xe, run };
}

Deno.test("fake pool: one database behind every host's xe; pool-param-add is atomic with xapi's text", async () => {
  const f = setup();
  let r = await f.run(H2, "pool-list", "params=uuid,master", "--minimal");
  assert.deepEqual(r, { code: 0, stdout: `${POOL}\n`, stderr: "" });
  r = await f.run(H1, "pool-param-get", `uuid=${POOL}`, "param-name=master");
  assert.equal(r.stdout, `${H1}\n`);
  r = await f.run(H2, "pool-param-add", `uuid=${POOL}`, "param-name=other-config", "k=v1");
  assert.equal(r.code, 0, r.stderr);
  r = await f.run(H1, "pool-param-add", `uuid=${POOL}`, "param-name=other-config", "k=v1");
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    // the "uuid" line is the object's reference, as xapi's database raises it (db_cache_impl.ml)
    `${DUP}\ntype: pool\nparam_name: other_config\nuuid: OpaqueRef:7285e3a1-aaaa-b1c2-f304-777777776778\nkey: k\n`,
    "even with the same value",
  );
  r = await f.run(H1, "pool-param-get", `uuid=${POOL}`, "param-name=other-config", "param-key=k");
  assert.equal(r.stdout, "v1\n");
  // 8 hosts' processes add one key at once: exactly one wins
  const racers = await Promise.all(
    Array.from(
      { length: 8 },
      (_, i) =>
        f.run(
          i % 2 ? H1 : H2,
          "vm-param-add",
          `uuid=${poolVm(1).uuid}`,
          "param-name=other-config",
          `t=${i}`,
        ),
    ),
  );
  assert.equal(racers.filter((x) => x.code === 0).length, 1);
  assert.ok(
    racers.filter((x) => x.code === 1).every((x) => x.stderr.startsWith(`${DUP}\ntype: VM\n`)),
  );
  r = await f.run(
    H2,
    "pool-param-remove",
    `uuid=${POOL}`,
    "param-name=other-config",
    "param-key=k",
  );
  assert.equal(r.code, 0);
  r = await f.run(
    H2,
    "pool-param-remove",
    `uuid=${POOL}`,
    "param-name=other-config",
    "param-key=k",
  );
  assert.deepEqual([r.code, r.stderr], [1, "Error: Key k is not in map\n"]);
  r = await f.run(H2, "host-list", "params=uuid,host-metrics-live", "--minimal");
  assert.equal(r.stdout, `${H1},${H2}\n`);
  await updateState(f.statePath, (s) => {
    s.hosts[1].live = false;
  });
  r = await f.run(H1, "host-param-get", `uuid=${H2}`, "param-name=host-metrics-live");
  assert.equal(r.stdout, "false\n");
});

Deno.test("fake pool: param-set on a map is remove, gap, add: a reader in the gap sees no key", async () => {
  const f = setup((s) => {
    s.mapGapMs = 1500;
    s.vms.at(-1)!.platform = { "device-model-args": "-vga std" };
  });
  const set = f.xe(
    H1,
    "vm-param-set",
    `uuid=${poolVm(1).uuid}`,
    "platform:device-model-args=-vga none",
  );
  let seen: Run | null = null;
  for (let i = 0; i < 200 && seen === null; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const p = readStateSync(f.statePath).vms.at(-1)!.platform;
    if (!("device-model-args" in p)) {
      seen = await f.run(
        H2,
        "vm-param-get",
        `uuid=${poolVm(1).uuid}`,
        "param-name=platform",
        "param-key=device-model-args",
      );
    }
  }
  assert.deepEqual(seen, {
    code: 1,
    stdout: "",
    stderr: "Error: Key device-model-args not found in map\n",
  });
  // an add inside the gap makes the set fail with the duplicate-key error
  const add = await f.run(
    H2,
    "vm-param-add",
    `uuid=${poolVm(1).uuid}`,
    "param-name=platform",
    "device-model-args=-x",
  );
  assert.equal(add.code, 0, add.stderr);
  const out = await set.output();
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /^You tried to add a key-value pair to a map/);
});

Deno.test("fake pool: master down → a slave's xe hangs, the master's fails at once; emergency mode fails at once", async () => {
  const f = setup((s) => {
    s.masterDown = true;
    s.hosts[1].hostname = "host2";
  });
  const r = await f.run(H1, "vm-list");
  assert.deepEqual([r.code, r.stderr], [1, "Error: Connection refused (calling connect )\n"]);
  const slave = f.xe(H2, "vm-list");
  const done = await Promise.race([
    slave.status.then(() => "exited"),
    new Promise((res) => setTimeout(() => res("still waiting"), 1500)),
  ]);
  assert.equal(done, "still waiting");
  slave.kill("SIGKILL");
  await slave.output();
  await updateState(f.statePath, (s) => {
    s.masterDown = false;
    s.hosts[1].emergency = true;
  });
  const e = await f.run(H2, "vm-list");
  assert.equal(e.code, 1);
  assert.match(e.stderr, /^You cannot make regular API calls directly on a slave/);
  assert.equal((await f.run(H1, "vm-list", "--minimal")).code, 0);
});

Deno.test("fake pool: vm-migrate runs the source's vm-pre-migrate and the destination's vm-post-migrate", async () => {
  const f = setup((s, dir) => {
    s.hosts[0].hookRoot = `${dir}/h1`;
    s.hosts[1].hookRoot = `${dir}/h2`;
    const vm = s.vms.at(-1)!;
    vm.powerState = "running";
    vm.residentOn = H1;
    vm.platform = { "device-model-args": "-device vgpu-stub,pool_id=A,priority=low,vm_id=3" };
  });
  for (
    const d of ["h1/vm-pre-migrate", "h2/vm-post-migrate", "h2/vm-pre-resume", "h2/vm-pre-start"]
  ) {
    Deno.mkdirSync(`${f.dir}/${d}`, { recursive: true });
  }
  await writeHookScript(`${f.dir}/h1/vm-pre-migrate/10`, ["/bin/true"]);
  await writeHookScript(`${f.dir}/h2/vm-post-migrate/10`, ["/bin/true"]);
  await writeHookScript(`${f.dir}/h2/vm-pre-resume/10`, ["/bin/true"]);
  await writeHookScript(`${f.dir}/h2/vm-pre-start/10`, ["/bin/true"]);
  // a pending change (args written while it runs) takes effect on the destination
  await updateState(f.statePath, (s) => {
    s.vms.at(-1)!.platform["device-model-args"] =
      "-device vgpu-stub,pool_id=B,priority=low,vm_id=3";
  });
  let r = await f.run(H1, "vm-migrate", `uuid=${poolVm(1).uuid}`, "host=host2", "live=true");
  assert.equal(r.code, 0, r.stderr);
  let vm = readStateSync(f.statePath).vms.at(-1)!;
  assert.equal(vm.residentOn, H2);
  assert.equal(vm.bootedArgs, "-device vgpu-stub,pool_id=B,priority=low,vm_id=3");
  const log = readHookLog(readStateSync(f.statePath));
  assert.deepEqual(log.map((h) => h.script.slice(f.dir.length + 1)), [
    "h1/vm-pre-migrate/10",
    "h2/vm-post-migrate/10",
  ]);
  // exit 2 from vm-pre-migrate vetoes: nothing moves
  Deno.mkdirSync(`${f.dir}/h2/vm-pre-migrate`);
  await writeHookScript(`${f.dir}/h2/vm-pre-migrate/10`, ["/bin/true"], {}, { exitCode: 2 });
  r = await f.run(H2, "vm-migrate", `uuid=${poolVm(1).uuid}`, "host=host1");
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^3rd party xapi hook failed\nhook_name: vm-pre-migrate\/10\nreason: source\n/,
  );
  assert.equal(readStateSync(f.statePath).vms.at(-1)!.residentOn, H2);
  // exit 2 from vm-post-migrate shuts the migrated VM down
  Deno.removeSync(`${f.dir}/h2/vm-pre-migrate/10`);
  Deno.mkdirSync(`${f.dir}/h1/vm-post-migrate`);
  await writeHookScript(`${f.dir}/h1/vm-post-migrate/10`, ["/bin/true"], {}, { exitCode: 2 });
  r = await f.run(H2, "vm-migrate", `uuid=${poolVm(1).uuid}`, "host=host1");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /hook_name: vm-post-migrate\/10\nreason: destination\n/);
  vm = readStateSync(f.statePath).vms.at(-1)!;
  assert.deepEqual([vm.powerState, vm.residentOn], ["halted", null]);
});

Deno.test("fake pool: vm-resume runs vm-pre-resume only (on the calling host), never vm-pre-start", async () => {
  const f = setup((s, dir) => {
    s.hosts[1].hookRoot = `${dir}/h2`;
    const vm = s.vms.at(-1)!;
    vm.powerState = "running";
    vm.residentOn = H1;
  });
  Deno.mkdirSync(`${f.dir}/h2/vm-pre-resume`, { recursive: true });
  Deno.mkdirSync(`${f.dir}/h2/vm-pre-start`, { recursive: true });
  await writeHookScript(`${f.dir}/h2/vm-pre-resume/10`, ["/bin/true"]);
  await writeHookScript(`${f.dir}/h2/vm-pre-start/10`, ["/bin/true"]);
  let r = await f.run(H1, "vm-suspend", `uuid=${poolVm(1).uuid}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readStateSync(f.statePath).vms.at(-1)!.powerState, "suspended");
  r = await f.run(H2, "vm-resume", `uuid=${poolVm(1).uuid}`);
  assert.equal(r.code, 0, r.stderr);
  const vm = readStateSync(f.statePath).vms.at(-1)!;
  assert.deepEqual([vm.powerState, vm.residentOn], ["running", H2]);
  const log = readHookLog(readStateSync(f.statePath));
  assert.deepEqual(log.map((h) => [h.script.slice(f.dir.length + 1), h.exit]), [[
    "h2/vm-pre-resume/10",
    0,
  ]]);
  // a start without on= in a pool starts on the calling host and runs its vm-pre-start
  await f.run(H2, "vm-shutdown", `uuid=${poolVm(1).uuid}`);
  r = await f.run(H2, "vm-start", `uuid=${poolVm(1).uuid}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readStateSync(f.statePath).vms.at(-1)!.residentOn, H2);
  assert.equal(
    readHookLog(readStateSync(f.statePath)).at(-1)!.script,
    `${f.dir}/h2/vm-pre-start/10`,
  );
});
