/**
 * The VM hooks in pool mode (issue 17 items 4 and 5): each host of the fake pool has its own
 * /etc/xapi.d with the scripts install-hook writes, calling vgpu-admin with that host's database;
 * xapi's events (start, migration) run them on the right host.
 */
import assert from "node:assert/strict";
import { renderHook } from "../src/ops/install.ts";
import { HOOK_EVENTS } from "../src/ops/startup-hook.ts";
import { FAKE_XE_PATH, fakeXeEnv, readStateSync, updateState } from "./fake-xe/state.ts";
import { runInProcess, writeCliWrapper } from "./helpers.ts";
import { fakePool, type FakePoolEnv, poolVm } from "./pool-helpers.ts";

/** Installs the four hook scripts on every host (its hookRoot), each calling its own vgpu-admin. */
async function installHooks(p: FakePoolEnv): Promise<void> {
  const roots: string[] = [];
  for (const [i, h] of p.hosts.entries()) {
    const root = `${p.dir}/host${i + 1}/xapi.d`;
    const { VGPU_DB: db, ...env } = h.env;
    const bin = `${p.dir}/host${i + 1}/vgpu-admin`;
    writeCliWrapper(bin, env);
    for (const ev of HOOK_EVENTS) {
      Deno.mkdirSync(`${root}/${ev}`, { recursive: true });
      const path = `${root}/${ev}/10-vgpu-admin`;
      Deno.writeTextFileSync(path, renderHook(bin, db, ev), { mode: 0o755 });
      Deno.chmodSync(path, 0o755);
    }
    roots.push(root);
  }
  await updateState(p.statePath, (s) => {
    s.hosts.forEach((h, i) => (h.hookRoot = roots[i]));
  });
}

async function xe(p: FakePoolEnv, host: number, ...args: string[]) {
  const out = await new Deno.Command(FAKE_XE_PATH, {
    args,
    env: fakeXeEnv(p.statePath, p.hosts[host].uuid),
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

async function ok(p: FakePoolEnv, host: number, argv: string[]) {
  const r = await runInProcess(argv, { env: p.hosts[host].env });
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  return r;
}

function log(p: FakePoolEnv, host: number): string[] {
  try {
    return Deno.readTextFileSync(p.hosts[host].env.VGPU_LOG).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

const argsOf = (p: FakePoolEnv, uuid: string) =>
  readStateSync(p.statePath).vms.find((v) => v.uuid === uuid)!.platform["device-model-args"];

Deno.test("a start on a host whose cache is older never reverts another host's change", async () => {
  const p = fakePool(2, [poolVm(1)]);
  for (const i of [0, 1]) await ok(p, i, ["pool", "enable", "--yes"]);
  await ok(p, 0, ["register-vm", `--vm-uuid=${poolVm(1).uuid}`, "--priority=low"]);
  await ok(p, 1, ["list-vms"]); // host2's cache: priority low
  await ok(p, 0, ["set-priority", `--vm-uuid=${poolVm(1).uuid}`, "--priority=high", "--yes"]);
  await installHooks(p);
  // host2 starts it; host2's cache still says low
  const r = await xe(p, 1, "vm-start", `uuid=${poolVm(1).uuid}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(argsOf(p, poolVm(1).uuid)!, /priority=high/, "not reverted to the cache's low");
  assert.match(log(p, 1).at(-1)!, /action=in-sync result=ok vGPU args follow the pool's claim/);
});

Deno.test("a migration to a host running the same vm_id: warned; refused in strict mode", async () => {
  const web = poolVm(1, { powerState: "running" });
  const clone = poolVm(2, {
    powerState: "running",
    nameLabel: "clone",
    platform: { "device-model-args": "-device vgpu-stub,pool_id=A,priority=medium,vm_id=1" },
  });
  const p = fakePool(2, [web, clone]);
  await updateState(p.statePath, (s) => {
    s.vms.find((v) => v.uuid === web.uuid)!.residentOn = p.hosts[0].uuid;
    s.vms.find((v) => v.uuid === clone.uuid)!.residentOn = p.hosts[1].uuid;
  });
  for (const i of [0, 1]) await ok(p, i, ["pool", "enable", "--yes"]);
  await ok(p, 0, ["register-vm", `--vm-uuid=${web.uuid}`, "--vm-id=1"]);
  await installHooks(p);
  let r = await xe(p, 0, "vm-migrate", `uuid=${web.uuid}`, "host=host2", "live=true");
  assert.equal(r.code, 0, r.stderr);
  const warn = log(p, 0).find((l) => l.includes("hook=vm-pre-migrate"))!;
  assert.match(
    warn,
    new RegExp(`action=pool-warning result=warning VM ${clone.uuid} runs on host2 with vm_id 1`),
  );
  // back to host1, then strict mode on host1: the migration is refused before anything moves
  r = await xe(p, 1, "vm-migrate", `uuid=${web.uuid}`, "host=host1");
  assert.equal(r.code, 0, r.stderr);
  await ok(p, 0, ["settings", "hook-strict", "on"]);
  r = await xe(p, 0, "vm-migrate", `uuid=${web.uuid}`, "host=host2");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /3rd party xapi hook failed\nhook_name: vm-pre-migrate\/10-vgpu-admin/);
  const vm = readStateSync(p.statePath).vms.find((v) => v.uuid === web.uuid)!;
  assert.deepEqual([vm.powerState, vm.residentOn], ["running", p.hosts[0].uuid]);
  assert.match(log(p, 0).at(-1)!, /result=refused .*strict mode refuses this migration/);
});
