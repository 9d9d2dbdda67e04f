/**
 * A few end-to-end runs of the real CLI as a subprocess, with the product's own permission flags,
 * against the fake xe host: stdout, stderr and the exit code checked together (style.md rule 10c).
 */
import assert from "node:assert/strict";
import { fakeHost, runCli, UUID1, UUID2 } from "./helpers.ts";
import { openDatabase } from "../src/store/open.ts";
import { DEFAULT_HOST_UUID, findVm, makeVm, readCallLog, readStateSync } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const HAND = "-m 2048 -display none";
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;

Deno.test("e2e: register, scan, set-pool of a running VM, sync --check, remove", async () => {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web", powerState: "running", platform: { [KEY]: HAND } }),
    makeVm({ uuid: UUID2, nameLabel: "spare", platform: {} }),
  ]);
  const cli = (args: string[], stdin?: string) => runCli(args, { env: h.env, stdin });
  const vm = () => findVm(readStateSync(h.statePath), UUID1)!;

  // a usage error: exit 2, nothing on stdout
  const usage = await cli(["show-vm", "--vm-uuid=nope"]);
  assert.deepEqual([usage.code, usage.stdout], [2, ""]);
  assert.match(usage.stderr, /^error: .*nope/);

  const reg = await cli(["register-vm", `--vm-uuid=${UUID1}`, "--priority=high"]);
  const args1 = `${HAND} ${dev("A", "high", 1)}`;
  assert.deepEqual(reg, {
    code: 0,
    stdout: [
      `Registered VM ${UUID1} (web): vGPU pool A, priority high, VM ID 1`,
      `Wrote platform args: ${args1}`,
      "The VM is running: it gets these args at its next start (restart it to apply).",
      "",
    ].join("\n"),
    stderr: "",
  });
  assert.equal(vm().platform[KEY], args1);

  const scan = await cli(["scan-vms"]);
  assert.equal(scan.code, 0, scan.stderr);
  assert.equal(scan.stderr, "");
  const lines = scan.stdout.split("\n");
  assert.deepEqual(lines.slice(0, 4), [
    "=== Pool A: 1 VMs ===",
    `UUID: ${UUID1} | Name: web | Pool: A | Priority: high (2) | VM ID: 1 | ✓ Configured`,
    `    Power: running | Args: ${dev("A", "high", 1)}`,
    `    Device-model-args: ${args1}`,
  ]);
  assert.match(
    lines[4],
    /^ {4}⚠ running with stale vGPU args since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}: restart to apply$/,
  );
  assert.ok(scan.stdout.includes("\n=== Pool B: 0 VMs ===\n"));
  assert.ok(
    scan.stdout.includes(
      `=== Unregistered VMs: 1 ===\nUUID: ${UUID2} | Name: spare | Status: ⚠ Not registered | Action: Run 'vgpu-admin register-vm'\n`,
    ),
  );

  // without a terminal and with stdin at its end, the answer is no
  const eof = await cli(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B"]);
  assert.equal(eof.code, 1);
  assert.match(eof.stdout, /^New configuration:\n {2}Pool: B$/m);
  assert.equal(
    eof.stderr,
    "Do you want to apply these settings? (yes/no): (no answer: end of input)\nCancelled; nothing changed.\n",
  );
  assert.equal(vm().platform[KEY], args1);

  const set = await cli(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B"], "yes\n");
  const args2 = `${HAND} ${dev("B", "high", 1)}`;
  assert.equal(set.code, 0, set.stderr);
  assert.equal(
    set.stdout,
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
Platform args: ${args2}
The VM was restarted and runs with the new configuration.
`,
  );
  assert.equal(
    set.stderr,
    `Do you want to apply these settings? (yes/no): 
Shutting down VM ${UUID1} (clean, waiting up to 120 s)...
Starting VM ${UUID1}...
`,
  );
  assert.equal(vm().powerState, "running");
  assert.equal(vm().residentOn, DEFAULT_HOST_UUID);
  assert.equal(vm().bootedArgs, args2);

  // in sync, and the restart ended the stale start
  const check = await cli(["sync", "--check"]);
  assert.deepEqual(check, {
    code: 0,
    stdout: "✓ In sync: 1 registered VMs match the database.\n",
    stderr: "",
  });
  const status = await cli(["status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.doesNotMatch(status.stdout, /stale/);

  const rm = await cli(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.deepEqual(rm, {
    code: 0,
    stdout: [
      `Removed VM ${UUID1} (web) from the database.`,
      `Removed its vgpu-stub device; its args are now: ${HAND}`,
      "The VM is running and keeps its vGPU device until its next start.",
      "",
    ].join("\n"),
    stderr:
      `Remove VM ${UUID1} (web, vGPU pool B, VM ID 1) from vgpu-admin? (yes/no): yes (--yes)\n`,
  });
  assert.equal(vm().platform[KEY], HAND);
  const list = await cli(["list-vms", "--format=json"]);
  assert.equal(list.code, 0, list.stderr);
  assert.doesNotMatch(list.stdout, new RegExp(UUID1));
});

Deno.test("e2e: scan-vms on 1,000 VMs makes one xe call (two without the xapi inventory)", async () => {
  const vms = [];
  for (let i = 0; i < 1000; i++) {
    const uuid = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
    const platform: Record<string, string> = { viridian: "true" };
    if (i % 2 === 0) platform[KEY] = `-m 512 ${dev(i % 4 === 0 ? "A" : "B", "medium", i + 1)}`;
    vms.push(
      makeVm({ uuid, nameLabel: `vm-${i}`, powerState: i % 3 ? "halted" : "running", platform }),
    );
  }
  const h = fakeHost(vms);
  Deno.mkdirSync(h.dbPath.slice(0, h.dbPath.lastIndexOf("/")), { recursive: true });
  (await openDatabase(h.dbPath, { now: () => new Date(), create: true })).db.close();
  const r = await runCli(["scan-vms"], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /^=== Pool A: 0 VMs ===\n/);
  assert.match(r.stdout, /\n=== Unregistered VMs: 1000 ===\n/);
  assert.match(r.stdout, /500 unregistered VMs carry a vgpu-stub device/);
  // the inventory names this host and every VM runs here: host-list would name no other host
  const calls = readCallLog(readStateSync(h.statePath));
  assert.deepEqual(calls.map((c) => c.argv[0]), ["vm-list"]);
  // without the inventory, host-list says which host this is (the pool's only one): same view
  const bare = await runCli(["scan-vms"], {
    env: { ...h.env, VGPU_INVENTORY: `${h.dir}/no-inventory` },
  });
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(bare.stdout, r.stdout);
  const after = readCallLog(readStateSync(h.statePath)).slice(calls.length);
  assert.deepEqual(after.map((c) => c.argv[0]).sort(), ["host-list", "vm-list"]);
});
