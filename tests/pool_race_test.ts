// Pool mode (issue 17): a change is planned from the pool read before the VM's ticket; a change
// another host finished in between must never be undone. Under the ticket the VM's args are read
// again: changed → refused, nothing changed, and the next run plans from the new state.
import assert from "node:assert/strict";
import { buildDevice } from "../src/domain/device-args.ts";
import { TICKET_KEY } from "../src/domain/pool.ts";
import type { XeRunner } from "../src/xe/runner.ts";
import { inProcessFakeXe } from "./fake-xe/in-process.ts";
import { readStateSync, updateState } from "./fake-xe/state.ts";
import { runInProcess } from "./helpers.ts";
import { fakePool, poolVm } from "./pool-helpers.ts";

Deno.test("set-priority in pool mode never undoes another host's change that ended between its read and its ticket", async () => {
  const vm = poolVm(1);
  const p = fakePool(2, [vm]);
  const [h1] = p.hosts;
  const ok = async (argv: string[], env = h1.env) => {
    const r = await runInProcess(argv, { env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    return r;
  };
  for (const h of p.hosts) await ok(["pool", "enable", "--yes"], h.env);
  await ok(["register-vm", `--vm-uuid=${vm.uuid}`, "--vm-id=1"]);
  const argsOf = () =>
    readStateSync(p.statePath).vms.find((v) => v.uuid === vm.uuid)!.platform["device-model-args"];
  // host2 moves the VM to vGPU pool B (its change ends) just before host1 takes the ticket
  const moved = buildDevice({ pool: "B", priority: 1, vmId: 1 });
  const inner = inProcessFakeXe(p.statePath, { caller: h1.uuid, defaultTimeoutMs: 30_000 });
  let raced = false;
  const xe: XeRunner = {
    async run(args, o) {
      if (!raced && args[0] === "vm-param-add" && args.some((a) => a.startsWith(TICKET_KEY))) {
        raced = true;
        await updateState(p.statePath, (s) => {
          s.vms.find((v) => v.uuid === vm.uuid)!.platform["device-model-args"] = moved;
        });
      }
      return await inner.run(args, o);
    },
  };
  const argv = ["set-priority", `--vm-uuid=${vm.uuid}`, "--priority=high", "--yes"];
  const r = await runInProcess(argv, { env: h1.env, xe });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stderr, /changed since this command read the pool .*nothing was changed/);
  assert.equal(argsOf(), moved, "host2's change stays");
  const after = readStateSync(p.statePath).vms.find((v) => v.uuid === vm.uuid)!;
  assert.equal(after.otherConfig?.[TICKET_KEY], undefined, "the ticket went");
  // run again: planned from pool B
  await ok(argv);
  assert.equal(argsOf(), buildDevice({ pool: "B", priority: 2, vmId: 1 }));
});
