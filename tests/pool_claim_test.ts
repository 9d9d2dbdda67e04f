// Pool mode (issue 17 item 2): a vm_id asked for is claimed, or the command says why; it never
// goes on without the claim, even when other hosts take and release that id at every try.
import assert from "node:assert/strict";
import { CLAIM_PREFIX, claimKey } from "../src/domain/pool.ts";
import type { XeRunner } from "../src/xe/runner.ts";
import { inProcessFakeXe } from "./fake-xe/in-process.ts";
import { readStateSync, updateState } from "./fake-xe/state.ts";
import { runInProcess } from "./helpers.ts";
import { enableAll, fakePool, poolVm } from "./pool-helpers.ts";

Deno.test("register-vm --vm-id in pool mode: an id taken and released at every try is never used unclaimed", async () => {
  const [vm, other] = [poolVm(1), poolVm(2)];
  const p = fakePool(2, [vm, other]);
  const [h1] = p.hosts;
  await enableAll(p);
  const key = claimKey(5);
  const inner = inProcessFakeXe(p.statePath, { caller: h1.uuid, defaultTimeoutMs: 30_000 });
  const xe: XeRunner = {
    async run(args, o) {
      // another host holds vm_id 5 when our add comes, and has let it go when we read the holder
      if (args[0] === "pool-param-add" && args.includes(`${key}=${vm.uuid}`)) {
        await updateState(p.statePath, (s) => {
          s.pool!.otherConfig[key] = other.uuid;
        });
      }
      if (args[0] === "pool-param-get" && args.includes(`param-key=${key}`)) {
        await updateState(p.statePath, (s) => {
          delete s.pool!.otherConfig[key];
        });
      }
      return await inner.run(args, o);
    },
  };
  const r = await runInProcess(["register-vm", `--vm-uuid=${vm.uuid}`, "--vm-id=5"], {
    env: h1.env,
    xe,
  });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stderr, /vm_id 5 could not be claimed: other hosts took and released it/);
  const s = readStateSync(p.statePath);
  assert.deepEqual(
    Object.keys(s.pool!.otherConfig).filter((k) => k.startsWith(CLAIM_PREFIX)),
    [],
  );
  assert.equal(s.vms.find((v) => v.uuid === vm.uuid)!.platform["device-model-args"], undefined);
});

Deno.test("register-vm in pool mode: a race lost to claims made since the pool was read costs one re-read, not a walk through them", async () => {
  const [vm, other] = [poolVm(1), poolVm(2)];
  const p = fakePool(2, [vm, other]);
  const [h1] = p.hosts;
  await enableAll(p);
  const inner = inProcessFakeXe(p.statePath, { caller: h1.uuid, defaultTimeoutMs: 30_000 });
  const adds: number[] = [];
  let rereads = 0;
  let sawSnapshot = false;
  const xe: XeRunner = {
    async run(args, o) {
      const claim = args.find((a) => a.startsWith(CLAIM_PREFIX));
      if (args[0] === "pool-param-add" && claim !== undefined) {
        adds.push(Number(claim.slice(CLAIM_PREFIX.length).split("=")[0]));
        // other hosts claimed vm_ids 1..20 after this command read the pool
        if (adds.length === 1) {
          await updateState(p.statePath, (s) => {
            for (let n = 1; n <= 20; n++) s.pool!.otherConfig[claimKey(n)] = other.uuid;
          });
        }
      }
      if (args[0] === "pool-list") {
        if (sawSnapshot) rereads++;
        sawSnapshot = true;
      }
      return await inner.run(args, o);
    },
  };
  const r = await runInProcess(["register-vm", `--vm-uuid=${vm.uuid}`], { env: h1.env, xe });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(adds[0], 1, "the first try is the lowest free id");
  assert.equal(adds.length, 2, `claim adds: ${adds.join(",")}`);
  assert.equal(rereads, 1);
  // 20 claims appeared at once: the next try is one of the 21 lowest free ids (21..41)
  assert.ok(adds[1] >= 21 && adds[1] <= 41, String(adds[1]));
  const s = readStateSync(p.statePath);
  assert.equal(s.pool!.otherConfig[claimKey(adds[1])], vm.uuid);
  assert.match(
    s.vms.find((v) => v.uuid === vm.uuid)!.platform["device-model-args"] ?? "",
    new RegExp(`vm_id=${adds[1]}$`),
  );
});
