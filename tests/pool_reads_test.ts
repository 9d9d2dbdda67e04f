// Pool mode's reads (issue 17 bounds): the fake pool answers read verbs in parallel, as xapi does,
// and keeps writes exclusive; a refresh that changes nothing leaves this host's database as it is.
import assert from "node:assert/strict";
import { buildDevice } from "../src/domain/device-args.ts";
import { FAKE_XE_PATH, readStateSync, withStateLock } from "./fake-xe/state.ts";
import { cliEnv, fileHash, runInProcess } from "./helpers.ts";
import { fakePool, poolVm } from "./pool-helpers.ts";

function xe(env: Record<string, string>, ...args: string[]) {
  return new Deno.Command(FAKE_XE_PATH, {
    args,
    env: cliEnv(env),
    stdout: "piped",
    stderr: "piped",
    // a fake that blocked reads would hang here: killed after 30 s, the test then fails
    signal: AbortSignal.timeout(30_000),
  }).output();
}

Deno.test("the fake pool answers a read while another reader holds the state, and a write only after", async () => {
  const vm = poolVm(1);
  const p = fakePool(2, [vm]);
  const env = p.hosts[1].env;
  let write: Promise<Deno.CommandOutput> | null = null;
  await withStateLock(p.statePath, async () => {
    // a reader holds the state: reads still answer (an exclusive lock here would never return)
    const r = await xe(env, "vm-list", "is-control-domain=false", "params=uuid", "--minimal");
    assert.equal(new TextDecoder().decode(r.stdout).trim(), vm.uuid);
    write = xe(env, "vm-param-add", `uuid=${vm.uuid}`, "param-name=other-config", "k=v");
    const again = await xe(
      env,
      "pool-param-get",
      `uuid=${readStateSync(p.statePath).pool!.uuid}`,
      "param-name=master",
    );
    assert.equal(again.code, 0);
    // the write waits for the readers
    assert.equal(readStateSync(p.statePath).vms[0].otherConfig?.k, undefined);
  }, { shared: true });
  const w = await write!;
  assert.equal(w.code, 0, new TextDecoder().decode(w.stderr));
  assert.equal(readStateSync(p.statePath).vms.find((v) => v.uuid === vm.uuid)!.otherConfig?.k, "v");
});

Deno.test("a pool-mode read whose refresh changes nothing does not write this host's database", async () => {
  const vms = [1, 2].map((i) =>
    poolVm(i, {
      platform: { "device-model-args": buildDevice({ pool: "A", priority: 1, vmId: i }) },
    })
  );
  const p = fakePool(1, vms);
  const h = p.hosts[0];
  for (
    const argv of [
      ["pool", "enable", "--yes"],
      ...vms.map((v) => ["adopt", `--vm-uuid=${v.uuid}`, "--yes"]),
    ]
  ) {
    const r = await runInProcess(argv, { env: h.env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
  let r = await runInProcess(["list-vms", "--format=json"], { env: h.env });
  assert.equal(JSON.parse(r.stdout).vms.length, 2);
  const before = [await fileHash(h.dbPath), await fileHash(`${h.dbPath}-wal`)];
  r = await runInProcess(["list-vms", "--format=json"], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).vms.length, 2);
  r = await runInProcess(["pool", "status"], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([await fileHash(h.dbPath), await fileHash(`${h.dbPath}-wal`)], before);
});
