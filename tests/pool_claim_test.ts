// Pool mode (issue 17 item 2): a vm_id asked for is claimed, or the command says why; it never
// goes on without the claim, even when other hosts take and release that id at every try.
import assert from "node:assert/strict";
import { CLAIM_PREFIX, claimKey } from "../src/domain/pool.ts";
import type { XeRunner } from "../src/xe/runner.ts";
import { inProcessFakeXe } from "./fake-xe/in-process.ts";
import { readStateSync, updateState } from "./fake-xe/state.ts";
import { runInProcess } from "./helpers.ts";
import { fakePool, poolVm } from "./pool-helpers.ts";

Deno.test("register-vm --vm-id in pool mode: an id taken and released at every try is never used unclaimed", async () => {
  const [vm, other] = [poolVm(1), poolVm(2)];
  const p = fakePool(2, [vm, other]);
  const [h1] = p.hosts;
  for (const h of p.hosts) {
    const r = await runInProcess(["pool", "enable", "--yes"], { env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
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
