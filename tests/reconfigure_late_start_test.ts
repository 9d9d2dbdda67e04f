/**
 * design.md §5 step 8, the case where the VM comes up although its start failed: xapi may go on
 * with a start after vgpu-admin stopped waiting for it, and only later. The undo then finds the
 * VM running with the new args while the database and the VM's args are put back: that must be
 * reported, and the VM shown as running with stale vGPU args until its next restart.
 *
 * Through the CLI only. The fake xe's vm-start runs the hook directory; the hook here fails the
 * first start (exit 2) and leaves a background job that starts the VM once the undo has begun
 * (its restore of the original args shows in the fake's call log; that write is held until the
 * late start happened, so it lands before the undo reads the power state). By then the failed start's own
 * read-back has seen the VM halted, so the change is undone, not finished.
 */
import assert from "node:assert/strict";
import { fakeHost, runInProcess, UUID1 } from "./helpers.ts";
import {
  FAKE_XE_PATH,
  fakeXeEnv,
  findVm,
  makeVm,
  readStateSync,
  writeStateSync,
} from "./fake-xe/state.ts";

const KEY = "device-model-args";
const ORIG = "-vga std -device vgpu-stub,pool_id=A,priority=high,vm_id=1";
const NEW = "-vga std -device vgpu-stub,pool_id=A,priority=low,vm_id=1";

Deno.test("reconfigure: a VM that comes up although its start failed is reported as running stale", async () => {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web", powerState: "running", platform: { [KEY]: ORIG } }),
  ]);
  const run = (argv: string[]) => runInProcess(argv, { env: h.env });
  const reg = await run([
    "register-vm",
    `--vm-uuid=${UUID1}`,
    "--pool=A",
    "--priority=high",
    "--vm-id=1",
    "--offline",
  ]);
  assert.equal(reg.code, 0, reg.stderr);

  const hookDir = `${h.dir}/vm-pre-start`;
  Deno.mkdirSync(hookDir);
  const q = (sh: string) => `'${sh.replaceAll("'", `'\\''`)}'`;
  const marker = `${h.dir}/start-failed-once`;
  const callLog = readStateSync(h.statePath).callLog!;
  const env = Object.entries(fakeXeEnv(h.statePath)).map(([k, v]) => `${k}=${q(v)}; export ${k}`);
  const restore = `platform:${KEY}=${ORIG}`;
  const started = `${h.dir}/started-late`;
  Deno.writeTextFileSync(
    `${hookDir}/10-start-late`,
    [
      "#!/bin/sh",
      ...env,
      `[ -e ${q(marker)} ] && exit 0`,
      `: > ${q(marker)}`,
      "(",
      "  i=0",
      `  until grep -qF ${q(restore)} ${q(callLog)}; do`,
      "    i=$((i + 1)); [ $i -gt 400 ] && exit 0; sleep 0.05",
      "  done",
      `  ${q(FAKE_XE_PATH)} vm-start uuid="$2"`,
      `  : > ${q(started)}`,
      ") </dev/null >/dev/null 2>&1 &",
      "exit 2",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  Deno.chmodSync(`${hookDir}/10-start-late`, 0o755);
  const state = readStateSync(h.statePath);
  state.hookDir = hookDir;
  // the restore is held until the late start happened (3 s at most)
  state.faults = {
    "vm-param-set": { mode: "delay", ms: 3_000, match: [restore], release: started },
  };
  writeStateSync(h.statePath, state);

  const r = await run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout.includes("Applied"), false);

  // The undo put the database row and the VM's args back; the VM runs, booted with NEW.
  const vm = findVm(readStateSync(h.statePath), UUID1);
  assert.ok(vm !== undefined);
  assert.equal(vm.powerState, "running");
  assert.equal(vm.platform?.[KEY], ORIG);
  assert.equal(vm.bootedArgs, NEW);
  const status = await run(["status", "--format=json"]);
  assert.equal(status.code, 0, status.stderr);
  const entry = JSON.parse(status.stdout).pools[0].vms[0];
  assert.equal(entry.registered.priority, "high");
  assert.equal(entry.status, "configured");
  assert.equal(entry.host.power_state, "running");
  // The truth about this run: it runs with the new args until it restarts.
  assert.notEqual(entry.stale_since, null, "the VM is shown as running with stale vGPU args");
  assert.match(r.stderr, /new vGPU args/);
});
