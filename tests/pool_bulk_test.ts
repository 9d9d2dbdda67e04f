// sync, adopt and import in pool mode (issue 17 item 2): each VM's ticket and the pool-wide
// claim of its vm_id (`vgpu-admin:vm_id:<N>=<uuid>`, one pool-param-add) before anything is
// written to it; xapi first, then this host's database. Through the CLI against the fake pool.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { CLAIM_PREFIX, claimKey, TICKET_KEY } from "../src/domain/pool.ts";
import { readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";
import { runInProcess, tempDir } from "./helpers.ts";
import { inProcessFakeXe } from "./fake-xe/in-process.ts";
import type { XeRunner } from "../src/xe/runner.ts";
import { enableAll, fakePool, poolVm } from "./pool-helpers.ts";

type Pool = ReturnType<typeof fakePool>;

function claimsOf(p: Pool): Map<number, string> {
  const out = new Map<number, string>();
  for (const [k, v] of Object.entries(readStateSync(p.statePath).pool!.otherConfig)) {
    if (k.startsWith(CLAIM_PREFIX)) out.set(Number(k.slice(CLAIM_PREFIX.length)), v);
  }
  return out;
}

function argsOf(p: Pool, uuid: string): string | undefined {
  return readStateSync(p.statePath).vms.find((v) => v.uuid === uuid)?.platform[
    "device-model-args"
  ];
}

function ticketsLeft(p: Pool): string[] {
  return readStateSync(p.statePath).vms.filter((v) => v.otherConfig?.[TICKET_KEY] !== undefined)
    .map((v) => v.uuid);
}

async function ok(p: Pool, host: number, argv: string[]): Promise<string> {
  const r = await runInProcess(argv, { env: p.hosts[host].env });
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** vm_ids in this host's database, by uuid (read directly: no refresh). */
function rowsOf(p: Pool, host: number): Map<string, number> {
  const db = new DatabaseSync(p.hosts[host].dbPath, { readOnly: true });
  try {
    const rows = db.prepare("SELECT vm_uuid, vm_id FROM vms").all() as {
      vm_uuid: string;
      vm_id: number;
    }[];
    return new Map(rows.map((r) => [r.vm_uuid, r.vm_id]));
  } finally {
    db.close();
  }
}

const stub = (pool: string, prio: string, id: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${prio},vm_id=${id}`;

Deno.test("sync in pool mode: ticket, then the claim, then the args; a vm_id another host's VM claims refuses that VM alone", async () => {
  const [vm1, vm2, vm3] = [poolVm(1), poolVm(2), poolVm(3)];
  const p = fakePool(2, [vm1, vm2, vm3]);
  await enableAll(p);
  await ok(p, 0, ["register-vm", `--vm-uuid=${vm1.uuid}`, "--vm-id=1"]);
  await ok(p, 0, ["register-vm", `--vm-uuid=${vm2.uuid}`, "--vm-id=2"]);
  // a rollback lost vm1's claim; vm2's vm_id went to vm3, registering on host2 (claim, no args
  // yet); both VMs' args were changed by hand
  await updateState(p.statePath, (s) => {
    const c = s.pool!.otherConfig;
    delete c[claimKey(1)];
    c[claimKey(5)] = vm1.uuid; // and vm1 held another id (a set-vm-id that died)
    c[claimKey(2)] = vm3.uuid;
    for (const [vm, id] of [[vm1, 1], [vm2, 2]] as const) {
      s.vms.find((v) => v.uuid === vm.uuid)!.platform["device-model-args"] = stub("B", "high", id);
    }
    const h2 = s.hosts[1].uuid;
    Object.assign(s.vms.find((v) => v.uuid === vm3.uuid)!, {
      powerState: "running",
      residentOn: h2,
      domid: 7,
    });
  });
  const from = readCallLog(readStateSync(p.statePath)).length;
  const r = await runInProcess(["sync"], { env: p.hosts[0].env });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`✓ VM ${vm1.uuid} .*: wrote ${stub("A", "medium", 1)}`));
  assert.match(
    r.stdout,
    new RegExp(`✗ VM ${vm2.uuid} .*: VM ID 2 already in use by VM ${vm3.uuid} \\(vm-3\\)`),
  );
  assert.equal(argsOf(p, vm1.uuid), stub("A", "medium", 1));
  assert.equal(argsOf(p, vm2.uuid), stub("B", "high", 2), "the refused VM is untouched");
  // vm1 carries vm_id 1 now: its claim of 5 went
  assert.deepEqual([...claimsOf(p)].sort(), [[1, vm1.uuid], [2, vm3.uuid]]);
  assert.deepEqual(ticketsLeft(p), []);
  // vm1: its ticket, then its claim, then its args (xapi's registry before the VM)
  const verbs = readCallLog(readStateSync(p.statePath)).slice(from)
    .filter((c) =>
      c.argv.some((a) => a.includes(vm1.uuid)) || c.argv.includes(`${claimKey(1)}=${vm1.uuid}`)
    )
    .map((c) => c.argv[0]);
  const at = (v: string) => verbs.indexOf(v);
  assert.ok(at("vm-param-add") >= 0 && at("vm-param-add") < at("pool-param-add"), verbs.join());
  assert.ok(at("pool-param-add") < at("vm-param-set"), verbs.join());
  // sync --check reads and writes nothing
  const c = await runInProcess(["sync", "--check"], { env: p.hosts[0].env });
  assert.equal(c.code, 3, c.stderr + c.stdout);
  assert.equal(argsOf(p, vm2.uuid), stub("B", "high", 2));
});

Deno.test("sync in pool mode, the master away at a VM's claim: the VMs before it are whole, the rest untouched; pool reconcile settles it", async () => {
  const [vm1, vm2] = [poolVm(1), poolVm(2)];
  const p = fakePool(2, [vm1, vm2]);
  await enableAll(p);
  await ok(p, 1, ["register-vm", `--vm-uuid=${vm1.uuid}`, "--vm-id=1"]);
  await ok(p, 1, ["register-vm", `--vm-uuid=${vm2.uuid}`, "--vm-id=2"]);
  await ok(p, 1, ["settings", "xe-timeout", "2"]);
  await updateState(p.statePath, (s) => {
    delete s.pool!.otherConfig[claimKey(1)];
    delete s.pool!.otherConfig[claimKey(2)];
    for (const [vm, id] of [[vm1, 1], [vm2, 2]] as const) {
      s.vms.find((v) => v.uuid === vm.uuid)!.platform["device-model-args"] = stub("B", "low", id);
    }
    // vm2's claim never answers (the master went away)
    s.faults = {
      "pool-param-add": { mode: "hang", times: 1, match: [`${claimKey(2)}=${vm2.uuid}`] },
    };
  });
  const r = await runInProcess(["sync"], { env: p.hosts[1].env });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`✓ VM ${vm1.uuid} .*: wrote`));
  assert.match(r.stdout, new RegExp(`✗ VM ${vm2.uuid} .*: stopped after 1 of 2 VMs`));
  assert.equal(argsOf(p, vm1.uuid), stub("A", "medium", 1));
  assert.equal(argsOf(p, vm2.uuid), stub("B", "low", 2), "untouched");
  assert.deepEqual([...claimsOf(p)], [[1, vm1.uuid]]);
  // the master back: reconcile settles vm2 from this host's registration and drops the ticket
  const rec = await runInProcess(["pool", "reconcile", "--yes"], { env: p.hosts[1].env });
  assert.equal(rec.code, 0, rec.stderr + rec.stdout);
  assert.equal(argsOf(p, vm2.uuid), stub("A", "medium", 2));
  assert.deepEqual([...claimsOf(p)].sort(), [[1, vm1.uuid], [2, vm2.uuid]]);
  assert.deepEqual(ticketsLeft(p), []);
  const c = await runInProcess(["sync", "--check"], { env: p.hosts[1].env });
  assert.equal(c.code, 0, c.stdout);
});

Deno.test("sync in pool mode never reverts a change another host finished between sync's read and its ticket", async () => {
  const [vm1, vm2] = [poolVm(1), poolVm(2)];
  const p = fakePool(2, [vm1, vm2]);
  await enableAll(p);
  await ok(p, 0, ["register-vm", `--vm-uuid=${vm1.uuid}`, "--vm-id=1"]);
  await ok(p, 0, ["register-vm", `--vm-uuid=${vm2.uuid}`, "--vm-id=2"]);
  // a rollback lost both claims and the args (older ones are back): drift for sync to fix
  await updateState(p.statePath, (s) => {
    s.pool!.otherConfig = Object.fromEntries(
      Object.entries(s.pool!.otherConfig).filter(([k]) => !k.startsWith(CLAIM_PREFIX)),
    );
    for (const [vm, id] of [[vm1, 1], [vm2, 2]] as const) {
      s.vms.find((v) => v.uuid === vm.uuid)!.platform["device-model-args"] = stub("B", "low", id);
    }
  });
  // host2 finishes its change of vm1 (set-priority high) just before sync takes vm1's ticket
  const inner = inProcessFakeXe(p.statePath, { caller: p.hosts[0].uuid, defaultTimeoutMs: 30_000 });
  let raced = false;
  const xe: XeRunner = {
    async run(args, o) {
      if (!raced && args[0] === "vm-param-add" && args.includes(`uuid=${vm1.uuid}`)) {
        raced = true;
        await updateState(p.statePath, (s) => {
          s.vms.find((v) => v.uuid === vm1.uuid)!.platform["device-model-args"] = stub(
            "A",
            "high",
            1,
          );
        });
      }
      return await inner.run(args, o);
    },
  };
  const r = await runInProcess(["sync"], { env: p.hosts[0].env, xe });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(
    r.stdout,
    new RegExp(`✗ VM ${vm1.uuid} .*: VM ${vm1.uuid} changed since this command read it`),
  );
  assert.equal(argsOf(p, vm1.uuid), stub("A", "high", 1), "host2's change stays");
  assert.equal(argsOf(p, vm2.uuid), stub("A", "medium", 2));
  assert.deepEqual(ticketsLeft(p), []);
});

Deno.test("adopt in pool mode claims the vm_id each VM carries; one claimed by another host's VM is refused naming it", async () => {
  const host = (s: ReturnType<typeof readStateSync>, i: number) => s.hosts[i].uuid;
  const x = poolVm(1);
  const y = poolVm(2, { platform: { "device-model-args": stub("B", "low", 7) } });
  const z = poolVm(3, { platform: { "device-model-args": stub("A", "high", 8) } });
  const p = fakePool(2, [x, y, z]);
  await enableAll(p);
  await updateState(p.statePath, (s) => {
    // x, running on host1, is being registered there with vm_id 7 (claimed, args not yet)
    s.pool!.otherConfig[claimKey(7)] = x.uuid;
    Object.assign(s.vms.find((v) => v.uuid === x.uuid)!, {
      powerState: "running",
      residentOn: host(s, 0),
      domid: 5,
    });
  });
  const r = await runInProcess(["adopt", "--yes"], { env: p.hosts[1].env });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`✓ adopted VM ${z.uuid}`));
  assert.match(
    r.stdout,
    new RegExp(`✗ VM ${y.uuid}: VM ID 7 already in use by VM ${x.uuid} \\(vm-1\\)`),
  );
  assert.deepEqual([...claimsOf(p)].sort(), [[7, x.uuid], [8, z.uuid]]);
  const rows = rowsOf(p, 1);
  assert.equal(rows.get(z.uuid), 8);
  assert.equal(rows.has(y.uuid), false);
  assert.equal(argsOf(p, y.uuid), stub("B", "low", 7), "adopt never changes args");
  assert.deepEqual(ticketsLeft(p), []);
  // host1 sees the adoption in its registry after its refresh
  assert.equal((rowsOf(p, 0)).size, 0, "--offline: host1's cache before a refresh");
  const l = JSON.parse(await ok(p, 0, ["list-vms", "--format=json"]));
  assert.deepEqual(l.vms.map((v: { vm_uuid: string }) => v.vm_uuid), [z.uuid]);
});

Deno.test("adopt in pool mode refuses a VM whose args changed between its read and the ticket", async () => {
  const y = poolVm(2, { platform: { "device-model-args": stub("B", "low", 7) } });
  const p = fakePool(2, [y]);
  await enableAll(p);
  const inner = inProcessFakeXe(p.statePath, { caller: p.hosts[1].uuid, defaultTimeoutMs: 30_000 });
  let raced = false;
  const xe: XeRunner = {
    async run(args, o) {
      if (!raced && args[0] === "vm-param-add" && args.includes(`uuid=${y.uuid}`)) {
        raced = true; // set-vm-id on host1 just ended: y carries 9 now
        await updateState(p.statePath, (s) => {
          s.vms[s.vms.findIndex((v) => v.uuid === y.uuid)].platform["device-model-args"] = stub(
            "B",
            "low",
            9,
          );
        });
      }
      return await inner.run(args, o);
    },
  };
  const r = await runInProcess(["adopt", "--yes"], { env: p.hosts[1].env, xe });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(
    r.stdout,
    new RegExp(`✗ VM ${y.uuid}: VM ${y.uuid} changed since this command read it`),
  );
  assert.deepEqual([...claimsOf(p)], [], "no claim of the old vm_id 7");
  assert.equal(rowsOf(p, 1).size, 0);
  assert.deepEqual(ticketsLeft(p), []);
});

Deno.test("adopt in pool mode, the master away at the second VM's claim: the first adopted whole, the second untouched; reconcile drops the stopped run's ticket, adopt finishes", async () => {
  const y = poolVm(2, { platform: { "device-model-args": stub("B", "low", 7) } });
  const z = poolVm(3, { platform: { "device-model-args": stub("A", "high", 8) } });
  const p = fakePool(2, [y, z]);
  await enableAll(p);
  await updateState(p.statePath, (s) => {
    s.faults = {
      "pool-param-add": { mode: "hang", times: 1, match: [`${claimKey(8)}=${z.uuid}`] },
    };
  });
  const r = await runInProcess(["adopt", "--yes"], { env: p.hosts[1].env });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`✓ adopted VM ${y.uuid}`));
  assert.match(r.stdout, new RegExp(`✗ VM ${z.uuid}: stopped after 1 of 2 VMs`));
  assert.deepEqual([...claimsOf(p)], [[7, y.uuid]]);
  assert.deepEqual(rowsOf(p, 1), new Map([[y.uuid, 7]]));
  assert.deepEqual(ticketsLeft(p), [z.uuid], "the stopped run's ticket stays until reconcile");
  // reconcile removes the ticket; the unclaimed args it leaves to adopt (the fix it names)
  const rec = await runInProcess(["pool", "reconcile", "--yes"], { env: p.hosts[1].env });
  assert.match(rec.stdout, new RegExp(`remove the ticket of VM ${z.uuid} left by adopt`));
  assert.match(rec.stdout, new RegExp(`vgpu-admin adopt --vm-uuid=${z.uuid}`));
  assert.deepEqual(ticketsLeft(p), []);
  await ok(p, 1, ["adopt", "--yes"]);
  assert.deepEqual([...claimsOf(p)].sort(), [[7, y.uuid], [8, z.uuid]]);
  assert.deepEqual(rowsOf(p, 1), new Map([[y.uuid, 7], [z.uuid, 8]]));
  assert.equal(argsOf(p, z.uuid), stub("A", "high", 8), "adopt never changes args");
});

Deno.test("adopt in pool mode: a row that cannot be written gives its claim back", async () => {
  const y = poolVm(2, { platform: { "device-model-args": stub("B", "low", 7) } });
  const p = fakePool(2, [y]);
  await enableAll(p);
  // vGPU pool B is disabled on host2 between adopt's plan and its row (another admin)
  const inner = inProcessFakeXe(p.statePath, { caller: p.hosts[1].uuid, defaultTimeoutMs: 30_000 });
  const xe: XeRunner = {
    async run(args, o) {
      if (args[0] === "pool-param-add" && args.includes(`${claimKey(7)}=${y.uuid}`)) {
        const db = new DatabaseSync(p.hosts[1].dbPath);
        db.exec("UPDATE pools SET enabled = 0 WHERE pool_id = 'B'");
        db.close();
      }
      return await inner.run(args, o);
    },
  };
  const r = await runInProcess(["adopt", "--yes"], { env: p.hosts[1].env, xe });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`✗ VM ${y.uuid}: vGPU pool B .*is disabled`));
  assert.deepEqual([...claimsOf(p)], [], "the claim went with the row");
  assert.equal(rowsOf(p, 1).size, 0);
  assert.deepEqual(ticketsLeft(p), []);
});

/** An export file of a standalone host registering `vms` with these vm_ids. */
async function exportFile(vms: [string, number][]): Promise<string> {
  const dir = tempDir("vgpu-pool-export-");
  const env = { VGPU_DB: `${dir}/db`, VGPU_XE: "/nonexistent/xe" };
  for (const [uuid, id] of vms) {
    const r = await runInProcess(
      ["register-vm", `--vm-uuid=${uuid}`, `--vm-id=${id}`, "--offline"],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
  }
  const file = `${dir}/export.json`;
  const r = await runInProcess(["export", `--output=${file}`], { env });
  assert.equal(r.code, 0, r.stderr);
  return file;
}

Deno.test("import in pool mode: claims before the database, all or nothing; the master away mid-way: nothing imported, a rerun finishes", async () => {
  const [vm1, vm2, vm3] = [poolVm(1), poolVm(2), poolVm(3)];
  const p = fakePool(2, [vm1, vm2, vm3]);
  await enableAll(p);
  const file = await exportFile([[vm1.uuid, 11], [vm2.uuid, 12]]);
  // --replace would unregister every other host's VM: refused
  let r = await runInProcess(["import", file, "--replace", "--yes"], { env: p.hosts[0].env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /import --replace does not run in pool mode/);
  // vm_id 12 is claimed by vm3 (another host's registration in flight): the whole import refused
  await updateState(p.statePath, (s) => {
    s.pool!.otherConfig[claimKey(12)] = vm3.uuid;
  });
  r = await runInProcess(["import", file, "--yes"], { env: p.hosts[0].env });
  assert.equal(r.code, 1, r.stdout);
  assert.match(
    r.stderr,
    new RegExp(`VM ID 12 already in use by VM ${vm3.uuid} \\(vm-3\\); nothing was changed`),
  );
  assert.deepEqual([...claimsOf(p)], [[12, vm3.uuid]], "vm1's claim was given back");
  assert.equal((rowsOf(p, 0)).size, 0);
  assert.deepEqual(ticketsLeft(p), []);
  // vm3 gave it up; now the master goes away at vm2's claim (vm1's ticket answer is lost too:
  // read back, it is ours)
  await ok(p, 0, ["settings", "xe-timeout", "2"]);
  await updateState(p.statePath, (s) => {
    delete s.pool!.otherConfig[claimKey(12)];
    s.faults = {
      "vm-param-add": { mode: "lost", times: 1, match: [`uuid=${vm1.uuid}`] },
      "pool-param-add": { mode: "hang", times: 1, match: [`${claimKey(12)}=${vm2.uuid}`] },
    };
  });
  r = await runInProcess(["import", file, "--yes"], { env: p.hosts[0].env });
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /nothing was imported: run the import again once the pool master answers/);
  assert.equal((rowsOf(p, 0)).size, 0, "nothing in this host's database");
  assert.equal(argsOf(p, vm1.uuid), undefined, "no VM written");
  assert.deepEqual([...claimsOf(p)], [], "the claims taken were given back");
  assert.deepEqual(ticketsLeft(p), []);
  // the master back: the import runs whole
  await ok(p, 0, ["import", file, "--yes"]);
  assert.deepEqual([...claimsOf(p)].sort(), [[11, vm1.uuid], [12, vm2.uuid]]);
  assert.equal(argsOf(p, vm1.uuid), stub("A", "medium", 11));
  assert.equal(argsOf(p, vm2.uuid), stub("A", "medium", 12));
  assert.deepEqual(rowsOf(p, 0), new Map([[vm1.uuid, 11], [vm2.uuid, 12]]));
  assert.deepEqual(ticketsLeft(p), []);
  // and pool reconcile finds nothing to settle
  const rec = await ok(p, 0, ["pool", "reconcile", "--dry-run"]);
  assert.doesNotMatch(rec, /would (claim|release|write)/i);
});

Deno.test("import in pool mode: the database changing under it gives every claim back", async () => {
  const [vm1, vm2] = [poolVm(1), poolVm(2)];
  const p = fakePool(2, [vm1, vm2]);
  await enableAll(p);
  const file = await exportFile([[vm1.uuid, 11], [vm2.uuid, 12]]);
  // vGPU pool A is disabled on host1 (another admin) while the import claims its vm_ids
  const inner = inProcessFakeXe(p.statePath, { caller: p.hosts[0].uuid, defaultTimeoutMs: 30_000 });
  const xe: XeRunner = {
    async run(args, o) {
      if (args[0] === "pool-param-add" && args.includes(`${claimKey(12)}=${vm2.uuid}`)) {
        const db = new DatabaseSync(p.hosts[0].dbPath);
        db.exec("UPDATE pools SET enabled = 0 WHERE pool_id = 'A'");
        db.close();
      }
      return await inner.run(args, o);
    },
  };
  const r = await runInProcess(["import", file, "--yes"], { env: p.hosts[0].env, xe });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stderr, /the database changed while the import waited/);
  assert.deepEqual([...claimsOf(p)], [], "the claims went back");
  assert.equal(rowsOf(p, 0).size, 0);
  assert.deepEqual(ticketsLeft(p), []);
});
