// deno task demo: the real vgpu-admin CLI against a simulated XCP-ng host (the fake xe of the
// tests) and a temporary database. Nothing outside a temporary directory is touched.
// deno-lint-ignore-file no-console
import { shellWord } from "../src/domain/shell-word.ts";
import { cliCommand, writeCliWrapper } from "../tests/helpers.ts";
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
  NO_COLOR: Deno.env.get("NO_COLOR") ?? "",
};
// The start hook, installed as install-hook will: xenopsd (here the fake) runs it with PATH only.
Deno.mkdirSync(hookDir, { recursive: true });
const wrapper = `${dir}/vgpu-admin`;
writeCliWrapper(wrapper, env);
const hook = Deno.readTextFileSync(new URL("../hooks/vm-pre-start/10-vgpu-admin", import.meta.url))
  .replace(/^VGPU_ADMIN=.*$/m, `VGPU_ADMIN=${wrapper}`);
Deno.writeTextFileSync(`${hookDir}/10-vgpu-admin`, hook, { mode: 0o755 });

const [cmd, ...pre] = cliCommand();
async function vgpu(args: string[], note = ""): Promise<number> {
  console.log(
    `\n\x1b[1m$ vgpu-admin ${args.map(shellWord).join(" ")}\x1b[0m${note ? `   # ${note}` : ""}`,
  );
  const r = await new Deno.Command(cmd, {
    args: [...pre, ...args],
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (r.code !== 0) console.log(`(exit code ${r.code})`);
  return r.code;
}
function section(title: string) {
  console.log(`\n\x1b[1;36m=== ${title} ===\x1b[0m`);
}

console.log(`vgpu-admin demo: a simulated host with 12 VMs; database ${db}`);
section("1. The empty database and what the host has");
// Only a command that writes creates the database (design.md §7); install-hook does on a host.
await vgpu(["settings", "hook-strict", "off"], "creates the database: read commands never do");
await vgpu(["list-pools"]);
await vgpu(["scan-vms"], "nothing registered yet; two VMs carry hand-set vgpu-stub args");

section("2. Register VMs 1-7 in Pool A and VMs 8-9 in Pool B");
const prios = ["high", "high", "high", "medium", "medium", "low", "low"];
for (let i = 1; i <= 7; i++) {
  await vgpu(["register-vm", `--vm-uuid=${uuid(i)}`, `--priority=${prios[i - 1]}`, `--vm-id=${i}`]);
}
await vgpu(["register-vm", `--vm-uuid=${uuid(8)}`, "--pool=B", "--priority=high"]);
await vgpu(["register-vm", `--vm-uuid=${uuid(9)}`, "--pool=b", "--priority=0", "--offline"]);
await vgpu(["set-pool-name", "--pool-id=B", "--name=Batch", "--description=render farm"]);
await vgpu(["list-vms"]);
await vgpu(["list-pools"]);
await vgpu(["show-pool", "--pool-id=A"]);

section("3. Reconfigure a running VM safely (confirm, stop, apply, restart)");
await vgpu(["set-pool", `--vm-uuid=${uuid(4)}`, "--pool=B", "--yes"]);
const booted = readStateSync(statePath).vms.find((v) => v.uuid === uuid(4))?.bootedArgs;
console.log(`# the simulated QEMU of VM-4 booted with: ${booted}`);
await vgpu(
  ["set-priority", `--vm-uuid=${uuid(5)}`, "--priority=high"],
  "no --yes, no TTY: EOF answers no",
);

section("4. Drift: someone edits a VM by hand; a clone copies VM-1's args");
const s = readStateSync(statePath);
s.vms.find((v) => v.uuid === uuid(2))!.platform["device-model-args"] =
  "-vga std -display none -device vgpu-stub,pool_id=B,priority=low,vm_id=2";
writeStateSync(statePath, s);
await vgpu(["status"]);
await vgpu(["sync", "--check"], "exit 3: drift found");
await vgpu(["sync", "--dry-run"]);
await vgpu(["sync"]);
await vgpu(
  ["sync", "--check"],
  "VM-9 (registered --offline) is written too; the clone is left for you",
);

section("5. Adopt the hand-configured VM; the clone's vm_id conflict is reported");
await vgpu(["adopt", "--yes"]);
await vgpu(["register-vm", `--vm-uuid=${uuid(11)}`], "the clone gets a fresh vm_id");

section("6. The start hook: a VM starts; the hook checks its args");
const s2 = readStateSync(statePath);
s2.vms.find((v) => v.uuid === uuid(3))!.platform["device-model-args"] = "-vga std";
writeStateSync(statePath, s2);
const start = await new Deno.Command(FAKE_XE_PATH, {
  args: ["vm-start", `uuid=${uuid(3)}`],
  env,
}).output();
console.log(`\n$ xe vm-start uuid=${uuid(3)}   # exit ${start.code}; hook log:`);
console.log(Deno.readTextFileSync(env.VGPU_LOG).trimEnd());
await vgpu(["show-vm", `--vm-uuid=${uuid(3)}`]);
await vgpu(["history", "--limit=5"]);

console.log(`\nDemo done. Files are in ${dir} (remove it when finished).`);
