/**
 * The start hook finishes within 15 s whatever happens (design.md §4), also under the default
 * xe timeout (30 s per call), which alone would outlast it. The clock injected into main() jumps
 * 10 s after the hook computed its deadline, so the bound runs out after a few real seconds
 * instead of 14: an xe that hangs must then be cut off by the bound, not by its own timeout.
 */
import assert from "node:assert/strict";
import { HOOK_BOUND_MS } from "../src/cli/commands/startup-hook.ts";
import { fakeHost, runInProcess, UUID1 } from "./helpers.ts";
import { makeVm, updateState } from "./fake-xe/state.ts";

const DEVICE_A1 = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";
const JUMP_MS = 10_000;

Deno.test("the hook's bound, with margin for the process's exit, is within 15 s", () => {
  assert.ok(HOOK_BOUND_MS <= 14_000, `HOOK_BOUND_MS is ${HOOK_BOUND_MS}`);
});

Deno.test("startup-hook: a hanging xe under the default xe timeout ends at the hook's bound", async () => {
  const h = fakeHost([
    makeVm({
      uuid: UUID1,
      nameLabel: "web",
      powerState: "halted",
      platform: { "device-model-args": DEVICE_A1 },
    }),
  ]);
  const env = h.env;
  const reg = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID1}`, "--pool=A", "--priority=high", "--vm-id=1"],
    { env },
  );
  assert.equal(reg.code, 0, reg.stderr);
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-param-get": { mode: "hang" } };
  });
  // The first reading of the clock is the hook's deadline; every later one is 10 s on.
  let readings = 0;
  const now = () => new Date(Date.now() + (readings++ === 0 ? 0 : JUMP_MS));
  const t0 = performance.now();
  const r = await runInProcess(["startup-hook", `--vm-uuid=${UUID1}`, "--reason=none"], {
    env,
    now,
  });
  const took = performance.now() - t0;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /xe vm-param-get .*did not answer within|no time left for xe/);
  // What is left of the bound is at most 14 s - 10 s; the xe timeout alone would be 30 s.
  assert.ok(took < HOOK_BOUND_MS - JUMP_MS + 3_000, `returned after ${Math.round(took)} ms`);
  const log = Deno.readTextFileSync(h.logPath).trim().split("\n");
  assert.equal(log.length, 1);
  assert.match(log[0], new RegExp(`vm=${UUID1} reason=none action=error result=failed `));
});
