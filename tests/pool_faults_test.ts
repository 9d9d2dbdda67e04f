// Pool mode when things go wrong (issue 17): a wiped other-config, a crash between claim and
// args, the master going away at each write step. Whatever happens, nothing stays half-done once
// `pool reconcile` (or `recover`) ran: a VM is registered with its claim, its args and its row,
// or not at all, and no ticket is left behind.
import assert from "node:assert/strict";
import { CLAIM_PREFIX, MARKER_KEY, TICKET_KEY } from "../src/domain/pool.ts";
import { type FakeFault, readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";
import { processGone, runInProcess, spawnCli, until } from "./helpers.ts";
import { enableAll, fakePool, type FakePoolEnv, poolVm } from "./pool-helpers.ts";

function claimsOf(p: FakePoolEnv): [number, string][] {
  return Object.entries(readStateSync(p.statePath).pool!.otherConfig)
    .filter(([k]) => k.startsWith(CLAIM_PREFIX))
    .map(([k, v]): [number, string] => [Number(k.slice(CLAIM_PREFIX.length)), v])
    .sort((a, b) => a[0] - b[0]);
}

function vmOf(p: FakePoolEnv, uuid: string) {
  return readStateSync(p.statePath).vms.find((v) => v.uuid === uuid)!;
}

async function ok(p: FakePoolEnv, host: number, argv: string[]) {
  const r = await runInProcess(argv, { env: p.hosts[host].env });
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}${r.stdout}`);
  return r;
}

/** Registered whole (claim, args, row on `host`) or not at all; never a ticket left. */
async function assertWholeOrNothing(
  p: FakePoolEnv,
  host: number,
  uuid: string,
): Promise<"whole" | "nothing"> {
  const vm = vmOf(p, uuid);
  assert.equal(vm.otherConfig?.[TICKET_KEY], undefined, "no ticket left behind");
  const claims = claimsOf(p).filter(([, u]) => u === uuid);
  const args = vm.platform["device-model-args"];
  const l = await runInProcess(["list-vms", "--format=json"], { env: p.hosts[host].env });
  const row = JSON.parse(l.stdout).vms.find((v: { vm_uuid: string }) => v.vm_uuid === uuid);
  if (claims.length === 0) {
    assert.equal(args, undefined, "no args without a claim");
    assert.equal(row, undefined, "no row without a claim");
    return "nothing";
  }
  assert.equal(claims.length, 1, "one claim");
  assert.match(args ?? "", new RegExp(`vm_id=${claims[0][0]}$`));
  assert.equal(row?.vm_id, claims[0][0]);
  return "whole";
}

Deno.test("a wiped other-config: writes refused, reads warn, pool reconcile on each host rebuilds every claim", async () => {
  const p = fakePool(2, [poolVm(1), poolVm(2), poolVm(3), poolVm(4)]);
  await enableAll(p);
  await ok(p, 0, ["register-vm", `--vm-uuid=${poolVm(1).uuid}`]);
  await ok(p, 0, ["register-vm", `--vm-uuid=${poolVm(2).uuid}`]);
  await ok(p, 1, ["register-vm", `--vm-uuid=${poolVm(3).uuid}`]);
  const before = claimsOf(p);
  assert.equal(before.length, 3);
  await ok(p, 0, ["list-vms"]); // host1's cache now holds host2's registration too
  await updateState(p.statePath, (s) => {
    s.pool!.otherConfig = {};
  });
  let r = await runInProcess(["register-vm", `--vm-uuid=${poolVm(4).uuid}`], {
    env: p.hosts[0].env,
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /lost its pool-mode marker .*run 'vgpu-admin pool reconcile'/);
  r = await runInProcess(["list-vms", "--format=json"], { env: p.hosts[0].env });
  assert.match(r.stderr, /^warning: the pool has lost its pool-mode marker/m);
  assert.equal(JSON.parse(r.stdout).vms.length, 3, "the cache is kept, not emptied");
  // pool status: no claim left, but the VMs still carry their args: said beside the count
  r = await runInProcess(["pool", "status"], { env: p.hosts[0].env });
  assert.match(
    r.stdout,
    /^Registry: 0 VMs; 3 more VMs carry vgpu-stub args without a vm_id claim \(see Inconsistencies\)$/m,
  );
  r = await runInProcess(["pool", "reconcile", "--dry-run"], { env: p.hosts[0].env });
  assert.equal(r.code, 1, "host2's VM cannot be settled from host1");
  assert.match(r.stdout, /^ {2}add the pool-mode marker/m);
  assert.match(r.stdout, new RegExp(`^  claim vm_id 1 for VM ${poolVm(1).uuid}`, "m"));
  assert.match(
    r.stdout,
    new RegExp(`⚠ VM ${poolVm(3).uuid} carries vm_id 3 in its args but holds no claim`),
  );
  assert.deepEqual(claimsOf(p), [], "--dry-run changes nothing");
  r = await runInProcess(["pool", "reconcile", "--yes"], { env: p.hosts[0].env });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(readStateSync(p.statePath).pool!.otherConfig[MARKER_KEY], "1");
  await ok(p, 1, ["pool", "reconcile", "--yes"]);
  assert.deepEqual(claimsOf(p), before);
  r = await ok(p, 1, ["pool", "status", "--format=json"]);
  assert.deepEqual(JSON.parse(r.stdout).problems, []);
  await ok(p, 0, ["register-vm", `--vm-uuid=${poolVm(4).uuid}`]);
  assert.deepEqual(claimsOf(p).at(-1), [4, poolVm(4).uuid]);
});

Deno.test("a crash between claim and args: status names it, reconcile finishes it; a died registration's claim is reused", async () => {
  const p = fakePool(2, [poolVm(1), poolVm(2)]);
  await enableAll(p);
  await updateState(p.statePath, (s) => {
    s.faults = { "vm-param-set": { mode: "hang" } };
  });
  const child = spawnCli(["register-vm", `--vm-uuid=${poolVm(1).uuid}`], p.hosts[0].env);
  await until(
    "the args write",
    () =>
      readCallLog(readStateSync(p.statePath)).some((c) => c.argv[0] === "vm-param-set") ||
      undefined,
  );
  child.kill("SIGKILL");
  await child.status;
  await updateState(p.statePath, (s) => {
    delete s.faults;
  });
  assert.deepEqual(claimsOf(p), [[1, poolVm(1).uuid]], "claimed");
  assert.equal(vmOf(p, poolVm(1).uuid).platform["device-model-args"], undefined, "no args yet");
  assert.ok(vmOf(p, poolVm(1).uuid).otherConfig?.[TICKET_KEY], "the dead process's ticket");
  let r = await ok(p, 1, ["pool", "status"]);
  assert.match(
    r.stdout,
    new RegExp(`⚠ vm_id 1 is claimed by VM ${poolVm(1).uuid}, whose args do not carry it`),
  );
  r = await ok(p, 0, ["pool", "reconcile", "--yes"]);
  assert.match(
    r.stdout,
    /remove the ticket of VM .* left by register-vm, pid \d+ of this host, which is gone/,
  );
  assert.match(r.stdout, /write the args of VM/);
  assert.equal(await assertWholeOrNothing(p, 0, poolVm(1).uuid), "whole");
  // a registration that died after its claim and before its row: register-vm takes the claim up
  await updateState(p.statePath, (s) => {
    s.pool!.otherConfig[`${CLAIM_PREFIX}7`] = poolVm(2).uuid;
  });
  r = await ok(p, 1, ["register-vm", `--vm-uuid=${poolVm(2).uuid}`]);
  assert.match(r.stdout, /VM ID 7/);
  assert.equal(await assertWholeOrNothing(p, 1, poolVm(2).uuid), "whole");
});

// The master goes away at each write step of a registration on host2 (a slave's xe hangs:
// the call times out after 2 s), or the step happens and its answer is lost.
const STEPS: { label: string; verb: string; fault: FakeFault }[] = [
  { label: "the ticket add hangs", verb: "vm-param-add", fault: { mode: "hang", times: 1 } },
  {
    label: "the ticket add's answer is lost",
    verb: "vm-param-add",
    fault: { mode: "lost", times: 1 },
  },
  { label: "the claim hangs", verb: "pool-param-add", fault: { mode: "hang", times: 1 } },
  {
    label: "the claim's answer is lost",
    verb: "pool-param-add",
    fault: { mode: "lost", times: 1 },
  },
  { label: "the args write hangs", verb: "vm-param-set", fault: { mode: "hang" } },
  { label: "the args write's answer is lost", verb: "vm-param-set", fault: { mode: "lost" } },
  { label: "the ticket release hangs", verb: "vm-param-remove", fault: { mode: "hang" } },
];

for (const step of STEPS) {
  Deno.test(`register-vm, master away when ${step.label}: nothing half-done after reconcile`, async () => {
    const p = fakePool(2, [poolVm(1)]);
    await enableAll(p);
    await ok(p, 1, ["settings", "xe-timeout", "2"]);
    await updateState(p.statePath, (s) => {
      s.faults = { [step.verb]: step.fault };
    });
    await runInProcess(["register-vm", `--vm-uuid=${poolVm(1).uuid}`], { env: p.hosts[1].env });
    await updateState(p.statePath, (s) => {
      delete s.faults;
    });
    await ok(p, 1, ["pool", "reconcile", "--yes"]).catch(async () => {
      // unsettled items are reported with exit 1; the state check below decides
    });
    await assertWholeOrNothing(p, 1, poolVm(1).uuid);
    const s = await ok(p, 0, ["pool", "status", "--format=json"]);
    assert.deepEqual(JSON.parse(s.stdout).problems, []);
    void processGone;
  });
}

Deno.test("set-vm-id killed between the new claim and the args: recover settles the claims and the ticket", async () => {
  const p = fakePool(2, [poolVm(1)]);
  await enableAll(p);
  await ok(p, 0, ["register-vm", `--vm-uuid=${poolVm(1).uuid}`]);
  await updateState(p.statePath, (s) => {
    s.faults = { "vm-param-set": { mode: "hang" } };
  });
  const from = readCallLog(readStateSync(p.statePath)).length;
  const child = spawnCli(
    ["set-vm-id", `--vm-uuid=${poolVm(1).uuid}`, "--vm-id=9", "--yes"],
    p.hosts[0].env,
  );
  await until(
    "the args write",
    () =>
      readCallLog(readStateSync(p.statePath)).slice(from).some((c) =>
        c.argv[0] === "vm-param-set"
      ) || undefined,
  );
  child.kill("SIGKILL");
  await child.status;
  await updateState(p.statePath, (s) => {
    delete s.faults;
  });
  assert.deepEqual(claimsOf(p), [[1, poolVm(1).uuid], [9, poolVm(1).uuid]], "both claims held");
  const r = await ok(p, 0, ["recover", "--yes"]);
  assert.match(r.stdout, /Recovered VM .*: change (undone|finished)/);
  assert.equal(await assertWholeOrNothing(p, 0, poolVm(1).uuid), "whole");
});

for (const at of ["before", "after"] as const) {
  Deno.test(`a dead host's change, killed ${at} its commit point: recover --take-over from another host, then the host returns`, async () => {
    const web = poolVm(1, { powerState: "running" });
    const p = fakePool(3, [web]);
    await updateState(p.statePath, (s) => {
      s.vms.find((v) => v.uuid === web.uuid)!.residentOn = p.hosts[1].uuid;
    });
    await enableAll(p);
    await ok(p, 1, ["register-vm", `--vm-uuid=${web.uuid}`, "--priority=low"]);
    // host2 changes it; the change dies at the args write (before) or at the restart (after)
    const verb = at === "before" ? "vm-param-set" : "vm-start";
    await updateState(p.statePath, (s) => {
      s.faults = { [verb]: { mode: "hang" } };
    });
    const from = readCallLog(readStateSync(p.statePath)).length;
    const child = spawnCli(
      ["set-priority", `--vm-uuid=${web.uuid}`, "--priority=high", "--yes"],
      p.hosts[1].env,
    );
    await until(
      verb,
      () =>
        readCallLog(readStateSync(p.statePath)).slice(from).some((c) => c.argv[0] === verb) ||
        undefined,
    );
    child.kill("SIGKILL");
    await child.status;
    await updateState(p.statePath, (s) => {
      delete s.faults;
      s.hosts[1].live = false; // host2 is dead
    });
    assert.equal(vmOf(p, web.uuid).powerState, "halted");
    // host3 (a live host): the ticket of host2 is refused to others, then taken over explicitly
    let r = await runInProcess([
      "set-priority",
      `--vm-uuid=${web.uuid}`,
      "--priority=medium",
      "--yes",
    ], {
      env: p.hosts[2].env,
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /is being changed by another vgpu-admin in the pool \(host [^,]+, pid \d+, set-priority/,
    );
    r = await ok(p, 2, ["recover", "--take-over", "--yes"]);
    assert.match(
      r.stdout,
      at === "before"
        ? /undo the change \(no commit marker\)/
        : /finish the change \(its commit marker is there\)/,
    );
    const vm = vmOf(p, web.uuid);
    assert.equal(vm.powerState, "running", "started again: its ticket said running");
    assert.match(
      vm.platform["device-model-args"]!,
      at === "before" ? /priority=low/ : /priority=high/,
    );
    assert.equal(vm.otherConfig?.[TICKET_KEY], undefined);
    assert.equal(vm.otherConfig?.["vgpu-admin:commit"], undefined);
    // host2 returns: its recover sees the take-over, closes its entry, follows the pool
    await updateState(p.statePath, (s) => {
      s.hosts[1].live = true;
    });
    r = await ok(p, 1, ["recover", "--yes"]);
    assert.match(r.stdout, /was taken over by another host of the pool/);
    const l = await ok(p, 1, ["list-vms", "--format=json"]);
    assert.equal(JSON.parse(l.stdout).vms[0].priority, at === "before" ? "low" : "high");
    const s = await ok(p, 0, ["pool", "status", "--format=json"]);
    assert.deepEqual(JSON.parse(s.stdout).problems, []);
    assert.equal(
      (await ok(p, 1, ["recover"])).stdout,
      "No interrupted operations: nothing to recover.\n",
    );
  });
}

// The master goes away at each pool step of a reconfiguration (set-vm-id on host2): after
// recover and reconcile the VM holds one claim, its row and args agree on it, no ticket is left.
const CHANGE_STEPS: { label: string; verb: string; fault: FakeFault }[] = [
  { label: "the ticket add hangs", verb: "vm-param-add", fault: { mode: "hang", times: 1 } },
  { label: "the new claim hangs", verb: "pool-param-add", fault: { mode: "hang", times: 1 } },
  { label: "the args write hangs", verb: "vm-param-set", fault: { mode: "hang" } },
  { label: "the old claim's release hangs", verb: "pool-param-remove", fault: { mode: "hang" } },
  { label: "the ticket release hangs", verb: "vm-param-remove", fault: { mode: "hang" } },
];

for (const step of CHANGE_STEPS) {
  Deno.test(`set-vm-id, master away when ${step.label}: settled by recover and reconcile`, async () => {
    const p = fakePool(2, [poolVm(1)]);
    await enableAll(p);
    await ok(p, 1, ["register-vm", `--vm-uuid=${poolVm(1).uuid}`]);
    await ok(p, 1, ["settings", "xe-timeout", "2"]);
    await updateState(p.statePath, (s) => {
      s.faults = { [step.verb]: step.fault };
    });
    await runInProcess(["set-vm-id", `--vm-uuid=${poolVm(1).uuid}`, "--vm-id=9", "--yes"], {
      env: p.hosts[1].env,
    });
    await updateState(p.statePath, (s) => {
      delete s.faults;
    });
    await runInProcess(["recover", "--yes"], { env: p.hosts[1].env });
    await runInProcess(["pool", "reconcile", "--yes"], { env: p.hosts[1].env });
    assert.equal(await assertWholeOrNothing(p, 1, poolVm(1).uuid), "whole");
    assert.equal(vmOf(p, poolVm(1).uuid).otherConfig?.["vgpu-admin:commit"], undefined);
    const s = await ok(p, 0, ["pool", "status", "--format=json"]);
    assert.deepEqual(JSON.parse(s.stdout).problems, []);
  });
}
