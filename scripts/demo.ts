// deno task demo: the real vgpu-admin CLI against a simulated XCP-ng host (the fake xe of the
// tests) and a temporary database. Nothing outside a temporary directory is touched.
// deno-lint-ignore-file no-console
import { existsSync } from "node:fs";
import { writeCliWrapper } from "../tests/helpers.ts";
import { type Expect, fail, noColor, section, stepCount, vgpuStep } from "./demo-kit.ts";
import {
  DEFAULT_HOST_UUID,
  defaultState,
  FAKE_XE_PATH,
  fakeXeEnv,
  makeHost,
  makeVm,
  readStateSync,
  writeStateSync,
} from "../tests/fake-xe/state.ts";

const dir = Deno.makeTempDirSync({ prefix: "vgpu-demo-" });
const statePath = `${dir}/host-state.json`;
const inventory = `${dir}/xensource-inventory`;
const db = `${dir}/vgpu_config.db`;
const hookDir = `${dir}/xapi.d/vm-pre-start`;
const uuid = (n: number) => `7d1e2f00-aaaa-4bbb-8ccc-${String(n).padStart(12, "0")}`;

// A dozen guests: seven for Pool A, a pair for Pool B, hand-configured ones, a clone, one elsewhere.
const other = makeHost({ uuid: "0b1e7c3a-3333-4a5b-8c9d-000000000003", nameLabel: "xcp-host-2" });
const state = defaultState({ hostname: "xcp-host-1" });
state.hosts.push(other);
const names = ["VM-1", "VM-2", "VM-3", "VM-4", "VM-5", "VM-6", "VM-7", "VM-8", "VM-9"];
names.forEach((name, i) =>
  state.vms.push(makeVm({
    uuid: uuid(i + 1),
    nameLabel: name,
    powerState: i % 3 === 0 ? "running" : "halted",
    platform: i === 1 ? { "device-model-args": "-vga std -display none" } : {},
  }))
);
state.vms.push(
  makeVm({
    uuid: uuid(10),
    nameLabel: "legacy-render",
    platform: { "device-model-args": "-device vgpu-stub,pool_id=B,priority=high,vm_id=40" },
  }),
  makeVm({
    uuid: uuid(11),
    nameLabel: "VM-1-clone",
    platform: { "device-model-args": "-device vgpu-stub,pool_id=A,priority=high,vm_id=1" },
  }),
  makeVm({
    uuid: uuid(12),
    nameLabel: "remote-worker",
    powerState: "running",
    residentOn: other.uuid,
  }),
);
writeStateSync(statePath, { ...state, hookDir });
Deno.writeTextFileSync(inventory, `INSTALLATION_UUID='${DEFAULT_HOST_UUID}'\n`);

const env = {
  ...fakeXeEnv(statePath),
  VGPU_DB: db,
  VGPU_INVENTORY: inventory,
  VGPU_LOG: `${dir}/vgpu-vm-startup.log`,
  NO_COLOR: noColor(),
};
// The start hook, installed as install-hook will: xenopsd (here the fake) runs it with PATH only.
Deno.mkdirSync(hookDir, { recursive: true });
const wrapper = `${dir}/vgpu-admin`;
writeCliWrapper(wrapper, env);
const hook = Deno.readTextFileSync(new URL("../hooks/vm-pre-start/10-vgpu-admin", import.meta.url))
  .replace(/^VGPU_ADMIN=.*$/m, `VGPU_ADMIN=${wrapper}`);
Deno.writeTextFileSync(`${hookDir}/10-vgpu-admin`, hook, { mode: 0o755 });

const vgpu = (args: string[], note = "", expect: Expect = {}) => vgpuStep(env, args, note, expect);

const vmOf = (n: number) => readStateSync(statePath).vms.find((v) => v.uuid === uuid(n))!;
const argsOf = (n: number) => vmOf(n).platform["device-model-args"] ?? "";
/** null when VM n's args carry `stub`, else what they carry. */
function carries(n: number, stub: string): string | null {
  return argsOf(n).includes(stub) ? null : `VM ${uuid(n)} carries "${argsOf(n)}", not ${stub}`;
}

console.log(`vgpu-admin demo: a simulated host with 12 VMs; database ${db}`);
section("1. The empty database and what the host has");
// Only a command that writes creates the database (design.md §7); install-hook does on a host.
await vgpu(["settings", "hook-strict", "off"], "creates the database: read commands never do", {
  then: () => existsSync(db) ? null : `no database at ${db}`,
});
await vgpu(["list-pools"], "", { shows: [/Pool A: "Pool A" \| Enabled \| VMs: 0/] });
await vgpu(["scan-vms"], "nothing registered yet; two VMs carry hand-set vgpu-stub args", {
  shows: [/=== Unregistered VMs: 12 ===/, /2 unregistered VMs carry a vgpu-stub device/],
});

section("2. Register VMs 1-7 in Pool A and VMs 8-9 in Pool B");
const prios = ["high", "high", "high", "medium", "medium", "low", "low"];
for (let i = 1; i <= 7; i++) {
  await vgpu(
    ["register-vm", `--vm-uuid=${uuid(i)}`, `--priority=${prios[i - 1]}`, `--vm-id=${i}`],
    "",
    {
      then: () => carries(i, `vgpu-stub,pool_id=A,priority=${prios[i - 1]},vm_id=${i}`),
    },
  );
}
await vgpu(["register-vm", `--vm-uuid=${uuid(8)}`, "--pool=B", "--priority=high"], "", {
  then: () => carries(8, "vgpu-stub,pool_id=B,priority=high,vm_id=8"),
});
await vgpu(["register-vm", `--vm-uuid=${uuid(9)}`, "--pool=b", "--priority=0", "--offline"], "", {
  then: () => argsOf(9) === "" ? null : `--offline wrote args to VM-9: ${argsOf(9)}`,
});
await vgpu(["set-pool-name", "--pool-id=B", "--name=Batch", "--description=render farm"]);
await vgpu(["list-vms"]);
await vgpu(["list-pools"], "", { shows: [/Pool B: "Batch" \| Enabled \| VMs: 2/] });
await vgpu(["show-pool", "--pool-id=A"]);

section("3. Reconfigure a running VM safely (confirm, stop, apply, restart)");
await vgpu(["set-pool", `--vm-uuid=${uuid(4)}`, "--pool=B", "--yes"], "", {
  then: () =>
    vmOf(4).powerState !== "running"
      ? `VM-4 is ${vmOf(4).powerState} after set-pool`
      : vmOf(4).bootedArgs?.includes("pool_id=B")
      ? null
      : `VM-4 booted with ${vmOf(4).bootedArgs}`,
});
console.log(`# the simulated QEMU of VM-4 booted with: ${vmOf(4).bootedArgs}`);
await vgpu(
  ["set-priority", `--vm-uuid=${uuid(5)}`, "--priority=high"],
  "no --yes, no TTY: EOF answers no",
  {
    code: 1,
    shows: [/Cancelled; nothing changed\./],
    then: () => carries(5, "priority=medium,vm_id=5"),
  },
);

section("4. Drift: someone edits a VM by hand; a clone copies VM-1's args");
const s = readStateSync(statePath);
s.vms.find((v) => v.uuid === uuid(2))!.platform["device-model-args"] =
  "-vga std -display none -device vgpu-stub,pool_id=B,priority=low,vm_id=2";
writeStateSync(statePath, s);
await vgpu(["status"], "", { shows: [/VM-2 .*args differ/, /VM-1-clone/] });
await vgpu(["sync", "--check"], "exit 3: drift found", {
  code: 3,
  shows: [/VM-1-clone\): vm_id 1 belongs to registered VM/],
});
await vgpu(["sync", "--dry-run"], "", {
  shows: [/nothing was changed \(--dry-run\)/],
  then: () => carries(2, "pool_id=B,priority=low,vm_id=2"),
});
await vgpu(["sync"], "", { then: () => carries(2, "pool_id=A,priority=high,vm_id=2") });
await vgpu(
  ["sync", "--check"],
  "VM-9 (registered --offline) is written too; the clone is left for you",
  {
    code: 3,
    shows: [/Drift: 1 problem found/, /VM-1-clone.*--vm-id=10/],
    then: () => carries(9, "vgpu-stub,pool_id=B,priority=low,vm_id=9"),
  },
);

section("5. Adopt the hand-configured VM; the clone's vm_id conflict is reported");
await vgpu(["adopt", "--yes"], "exit 1: the clone is not adopted", {
  code: 1,
  shows: [/not adopted: .*VM-1-clone.*--vm-id=10/, /adopted VM \S+ \(legacy-render\)/],
});
await vgpu(["register-vm", `--vm-uuid=${uuid(11)}`], "its args carry VM-1's vm_id: refused", {
  code: 1,
  shows: [/VM ID 1 already in use .*; pass --vm-id=10 \(the next free vm_id\)/],
  then: () => carries(11, "vm_id=1"),
});
await vgpu(["register-vm", `--vm-uuid=${uuid(11)}`, "--vm-id=10"], "the clone gets a fresh vm_id", {
  then: () => carries(11, "vgpu-stub,pool_id=A,priority=high,vm_id=10"),
});
await vgpu(["sync", "--check"], "no drift left", { shows: [/In sync: 11 registered VMs/] });

section("6. The start hook: a VM starts; the hook checks its args");
const s2 = readStateSync(statePath);
s2.vms.find((v) => v.uuid === uuid(3))!.platform["device-model-args"] = "-vga std";
writeStateSync(statePath, s2);
const start = await new Deno.Command(FAKE_XE_PATH, {
  args: ["vm-start", `uuid=${uuid(3)}`],
  env,
}).output();
console.log(`\n$ xe vm-start uuid=${uuid(3)}   # exit ${start.code}; hook log:`);
const hookLog = Deno.readTextFileSync(env.VGPU_LOG).trimEnd();
console.log(hookLog);
if (start.code !== 0) fail(`xe vm-start uuid=${uuid(3)}`, `exit code ${start.code}`);
if (!hookLog.includes(`vm=${uuid(3)} reason=none action=repaired`)) {
  fail(`xe vm-start uuid=${uuid(3)}`, "the hook log has no repair of VM-3's args");
}
await vgpu(["show-vm", `--vm-uuid=${uuid(3)}`], "repaired for the next start", {
  shows: [/in sync with the database/, /running with stale vGPU args/],
});
await vgpu(["history", "--limit=5"]);

console.log(
  `\nDemo done: ${stepCount()} commands, each did what its comment says. Files are in ${dir} (remove it when finished).`,
);
