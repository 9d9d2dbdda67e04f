// The lines pool enable, pool disable and pool reconcile print (src/cli/render/pool-change.ts),
// byte for byte as they were printed by the commands before the move (issue 20 item 5).
import assert from "node:assert/strict";
import {
  DISABLED_LINE,
  disablePlanLines,
  enableDoneLine,
  reconcileDoneLines,
  reconcilePlanLines,
} from "../src/cli/render/pool-change.ts";

const VM = "7d1e2f00-aaaa-4bbb-8ccc-000000000001";

Deno.test("pool enable: the result line, turned on or joined, one claim or several", () => {
  assert.equal(
    enableDoneLine({ turnedOn: true, claimedNow: 1 }),
    "Pool mode is on: 1 vm_id claim added; run 'vgpu-admin pool enable' on every other GPU host of the pool.",
  );
  assert.equal(
    enableDoneLine({ turnedOn: false, claimedNow: 3 }),
    "This host joined pool mode: 3 vm_id claims added; run 'vgpu-admin pool enable' on every other GPU host of the pool.",
  );
});

Deno.test("pool disable: the plan with and without a marker, and the last line", () => {
  assert.deepEqual(disablePlanLines({ poolUuid: "p1", marker: "1", claims: [[4, VM]] }), [
    "Pool mode on pool p1: 1; 1 vm_id claim to remove.",
    "Every host leaves pool mode at its next contact with the master and keeps its database (the whole registry as it was).",
  ]);
  assert.equal(
    disablePlanLines({ poolUuid: "p1", marker: null, claims: [] })[0],
    "Pool mode on pool p1: never enabled (no marker); 0 vm_id claims to remove.",
  );
  assert.equal(DISABLED_LINE, "Pool mode is off; this host is standalone.");
});

Deno.test("pool reconcile: nothing to do, a plan (dry run or not) with what it cannot settle, the result", () => {
  assert.deepEqual(reconcilePlanLines({ actions: [], unsettled: [] }, false), [
    "Nothing to rebuild: the pool's claims agree with this host's registrations.",
  ]);
  const plan = {
    actions: [{ kind: "claim" as const, vmUuid: VM, vmId: 4, name: "web" }],
    unsettled: [{ text: "two VMs carry vm_id 9", fix: "vgpu-admin set-vm-id …" }],
  };
  const claim = `  claim vm_id 4 for VM ${VM} (web): its args and this host's database carry it`;
  const cannot = [
    "Cannot settle from this host (1):",
    "  ⚠ two VMs carry vm_id 9",
    "    fix: vgpu-admin set-vm-id …",
  ];
  assert.deepEqual(reconcilePlanLines(plan, true), ["Would do (1):", claim, ...cannot]);
  assert.deepEqual(reconcilePlanLines(plan, false), ["To do (1):", claim, ...cannot]);
  assert.deepEqual(reconcileDoneLines({ done: ["a", "b"], failed: [] }), ["Done (2)."]);
  assert.deepEqual(reconcileDoneLines({ done: [], failed: [{ text: "x", fix: "y" }] }), [
    "Done (0).",
    "Failed (1):",
    "  ⚠ x",
    "    fix: y",
  ]);
});
