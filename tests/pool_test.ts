// Pool mode (issue 17) through the CLI against the fake pool: several hosts behind one xe.
import assert from "node:assert/strict";
import { CLAIM_PREFIX, MARKER_KEY, TICKET_KEY } from "../src/domain/pool.ts";
import { readStateSync, updateState } from "./fake-xe/state.ts";
import { runCli, runInProcess } from "./helpers.ts";
import { fakePool, poolVm } from "./pool-helpers.ts";

function poolConfig(statePath: string): Record<string, string> {
  return readStateSync(statePath).pool!.otherConfig;
}

function claimsOf(statePath: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const [k, v] of Object.entries(poolConfig(statePath))) {
    if (k.startsWith(CLAIM_PREFIX)) out.set(Number(k.slice(CLAIM_PREFIX.length)), v);
  }
  return out;
}

function argsOf(statePath: string, uuid: string): string | undefined {
  return readStateSync(statePath).vms.find((v) => v.uuid === uuid)?.platform["device-model-args"];
}

async function enableAll(p: ReturnType<typeof fakePool>): Promise<void> {
  for (const h of p.hosts) {
    const r = await runInProcess(["pool", "enable", "--yes"], { env: h.env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
}

Deno.test("pool enable turns pool mode on, the other hosts join, pool status shows it", async () => {
  const p = fakePool(3, [poolVm(1)]);
  const [h1, h2] = p.hosts;
  let r = await runInProcess(["pool", "status"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Pool mode: off$/m);
  r = await runInProcess(["pool", "enable", "--yes"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Pool mode is on: 0 vm_id claims added/);
  assert.equal(poolConfig(p.statePath)[MARKER_KEY], "1");
  r = await runInProcess(["pool", "status"], { env: h2.env });
  assert.match(r.stdout, /^Pool mode: on \(format 1\) \| this host has not joined/m);
  r = await runInProcess(["pool-enable", "--yes"], { env: h2.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /This host joined pool mode/);
  r = await runInProcess(["pool", "status", "--format=json"], { env: h2.env });
  const j = JSON.parse(r.stdout);
  assert.equal(j.pool_mode, true);
  assert.equal(j.format, 1);
  assert.equal(j.master.name, "host1");
  assert.deepEqual(j.hosts.map((h: { member: string | null }) => h.member !== null), [true, true, false]);
});

Deno.test("3 hosts × 8 concurrent registrations without --vm-id: 24 distinct ids, one claim each", async () => {
  const vms = Array.from({ length: 24 }, (_, i) => poolVm(i + 1));
  const p = fakePool(3, vms);
  await enableAll(p);
  const runs = vms.map((vm, i) =>
    runCli(["register-vm", `--vm-uuid=${vm.uuid}`], { env: p.hosts[i % 3].env })
  );
  const results = await Promise.all(runs);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const claims = claimsOf(p.statePath);
  assert.equal(claims.size, 24);
  assert.deepEqual([...claims.keys()].sort((a, b) => a - b), Array.from({ length: 24 }, (_, i) => i + 1));
  assert.equal(new Set(claims.values()).size, 24, "one claim per VM");
  for (const [id, uuid] of claims) {
    assert.match(argsOf(p.statePath, uuid) ?? "", new RegExp(`vm_id=${id}$`));
  }
  // no ticket is left behind
  for (const vm of readStateSync(p.statePath).vms) assert.equal(vm.otherConfig?.[TICKET_KEY], undefined);
  // every host's database holds the whole registry after a refresh
  for (const h of p.hosts) {
    const s = await runInProcess(["pool", "status", "--format=json"], { env: h.env });
    assert.equal(JSON.parse(s.stdout).registry.length, 24);
    const l = await runInProcess(["list-vms", "--format=json"], { env: h.env });
    assert.equal(JSON.parse(l.stdout).vms.length, 24, l.stdout.slice(0, 300));
  }
});
