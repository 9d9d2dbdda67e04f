/**
 * `enabled` (seed 000, kept in 001's schema): enable-pool / disable-pool, a disabled pool takes no
 * new VMs (register-vm, set-pool, update-vm, import, adopt refuse, naming it), its VMs keep their
 * args, and every pool view says Enabled/Disabled (issue 11 point 5).
 */
import assert from "node:assert/strict";
import {
  fakeHost,
  fileHash,
  platformOf,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  UUID3,
} from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;
const REFUSED =
  `error: vGPU pool B ("Batch") is disabled and takes no new VMs; enable it with 'vgpu-admin enable-pool --pool-id=B', or choose the other pool\n`;

/** web (A, registered), db (B, registered, running), new (unregistered, carries a B stub). */
async function setup() {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web" }),
    makeVm({ uuid: UUID2, nameLabel: "db", powerState: "running" }),
    makeVm({ uuid: UUID3, nameLabel: "new", platform: { [KEY]: `-m 1 ${dev("B", "high", 30)}` } }),
  ]);
  const run = (argv: string[]) => runInProcess(argv, { env: h.env });
  for (
    const argv of [["register-vm", `--vm-uuid=${UUID1}`], [
      "register-vm",
      `--vm-uuid=${UUID2}`,
      "--pool=B",
    ]]
  ) {
    const r = await run(argv);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal((await run(["set-pool-name", "--pool-id=B", "--name=Batch"])).code, 0);
  return { h, run };
}

Deno.test("disable-pool / enable-pool: said, idempotent, shown in every pool view", async () => {
  const { h, run } = await setup();
  const argsBefore = platformOf(h, UUID2)[KEY];
  const d = await run(["disable-pool", "--pool-id=b"]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(
    d.stdout,
    `vGPU pool B ("Batch") disabled: it takes no new VMs; its 1 VM keeps its configuration and args.\n`,
  );
  const again = await run(["disable-pool", "--pool-id=B"]);
  assert.equal(again.stdout, `vGPU pool B ("Batch") is already disabled; nothing changed.\n`);
  assert.equal(platformOf(h, UUID2)[KEY], argsBefore, "its VMs keep their args");
  assert.equal((await run(["sync", "--check"])).code, 0, "no drift from disabling");

  assert.match((await run(["list-pools"])).stdout, /^Pool B: "Batch" \| Disabled \| VMs: 1 /m);
  assert.match((await run(["show-pool", "--pool-id=B"])).stdout, /^Status: Disabled$/m);
  const status = (await run(["status"])).stdout;
  assert.match(status, /Pool B: "Batch"\n-+\nStatus: Disabled\n/);
  assert.match(status, /Total Pools: 2 \(1 enabled\)/);
  const lp = JSON.parse((await run(["list-pools", "--format=json"])).stdout);
  assert.deepEqual(lp.pools.map((p: { enabled: boolean }) => p.enabled), [true, false]);
  const sj = JSON.parse((await run(["status", "--format=json"])).stdout);
  assert.equal(sj.pools[1].enabled, false);
  assert.equal(
    JSON.parse((await run(["show-pool", "--pool-id=B", "--format=json"])).stdout).pool.enabled,
    false,
  );
  const scan = (await run(["scan-vms"])).stdout;
  assert.match(scan, /^=== Pool B \(Batch, disabled\): 1 VMs ===$/m);
  assert.match(scan, /^=== Pool A: 1 VMs ===$/m, "an enabled pool keeps the seed's header");
  const lv = await run(["list-vms"]);
  assert.match(lv.stdout, /│ B \(Batch, disabled\) │/);
  assert.match(lv.stdout, /│ A \(Pool A\) +│/);
  const lvj = JSON.parse((await run(["list-vms", "--format=json"])).stdout);
  assert.deepEqual(
    lvj.vms.map((v: Record<string, unknown>) => [v.pool_id, v.pool_name, v.pool_enabled]),
    [["A", "Pool A", true], ["B", "Batch", false]],
  );
  const hist = JSON.parse((await run(["history", "--limit=1", "--format=json"])).stdout);
  assert.equal(hist.history[0].command, "disable-pool");

  const e = await run(["enable-pool", "--pool-id=B"]);
  assert.equal(e.stdout, `vGPU pool B ("Batch") enabled: it takes new VMs again (1 VM in it).\n`);
  assert.match((await run(["list-pools"])).stdout, /^Pool B: "Batch" \| Enabled /m);
});

Deno.test("a disabled pool takes no new VMs: register-vm, set-pool, update-vm, adopt refuse", async () => {
  const { h, run } = await setup();
  assert.equal((await run(["disable-pool", "--pool-id=B"])).code, 0);
  const state = await fileHash(h.statePath);
  const db = await fileHash(h.dbPath);
  const cases = [
    ["register-vm", `--vm-uuid=${UUID3}`, "--pool=B"],
    ["register-vm", `--vm-uuid=${UUID3}`], // its own stub says B
    ["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"],
    ["update-vm", `--vm-uuid=${UUID1}`, "--pool=B", "--priority=high", "--yes"],
  ];
  for (const argv of cases) {
    const r = await run(argv);
    assert.equal([r.code, r.stderr].join(" "), `1 ${REFUSED}`, argv.join(" "));
  }
  assert.equal(await fileHash(h.statePath), state, "no VM touched");
  assert.equal(await fileHash(h.dbPath), db, "no row changed");
  const adopt = await run(["adopt", "--yes"]);
  assert.equal(adopt.code, 1);
  assert.match(
    adopt.stdout + adopt.stderr,
    /vGPU pool B \("Batch"\) is disabled and takes no new VMs/,
  );
  // a VM already in the pool may still change; another pool still takes the new VM
  const prio = await run(["set-priority", `--vm-uuid=${UUID2}`, "--priority=low", "--yes"]);
  assert.equal(prio.code, 0, prio.stderr);
  const a = await run(["register-vm", `--vm-uuid=${UUID3}`, "--pool=A"]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /Changed on the VM: vGPU pool B -> A/);
});

Deno.test("import refuses new VMs in a pool that stays disabled; a file enabling it may add them", async () => {
  const { run } = await setup();
  const dir = tempDir();
  // the file: this configuration plus VM 3 in pool B
  const fileHost = fakeHost([makeVm({ uuid: UUID3, nameLabel: "new" })]);
  const reg = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID3}`, "--pool=B", "--vm-id=30", "--offline"],
    { env: fileHost.env },
  );
  assert.equal(reg.code, 0, reg.stderr);
  const file = `${dir}/export.json`;
  const exp = await runInProcess(["export", `--output=${file}`], { env: fileHost.env });
  assert.equal(exp.code, 0, exp.stderr);
  const doc = JSON.parse(Deno.readTextFileSync(file));
  const disabledFile = `${dir}/b-disabled.json`;
  doc.pools.find((p: { pool_id: string }) => p.pool_id === "B").enabled = false;
  Deno.writeTextFileSync(disabledFile, JSON.stringify(doc));

  assert.equal((await run(["disable-pool", "--pool-id=B"])).code, 0);
  const r = await run(["import", disabledFile, "--yes", "--offline"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /vms\[0\]\.pool_id: vGPU pool B \("Batch"\) is disabled and takes no new VMs/,
  );
  // the original export says B is enabled: importing it enables B and adds the VM
  const ok = await run(["import", file, "--yes", "--offline"]);
  assert.equal(ok.code, 0, ok.stderr);
  const lv = JSON.parse((await run(["list-vms", "--pool=B", "--format=json"])).stdout);
  assert.ok(lv.vms.some((v: { vm_uuid: string }) => v.vm_uuid === UUID3));
});
