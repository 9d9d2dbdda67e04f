// After kill -9 in the middle of a reconfiguration (issue 18 C13): status, scan-vms and show-vm
// say the interrupted operation once (stdout in a human view, stderr beside JSON), and a VM the
// interrupted change stopped is marked halted where it should run, with the command that starts it.
import assert from "node:assert/strict";
import { fakeHost, processGone, runInProcess, spawnCli, until, UUID1, UUID2 } from "./helpers.ts";
import { findVm, makeVm, readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const dev = (pool: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=high,vm_id=${vmId}`;

/** web (UUID1) running and registered; db (UUID2) running, registered, untouched. */
async function killedDuringSetPool() {
  const h = fakeHost([
    makeVm({
      uuid: UUID1,
      nameLabel: "web",
      powerState: "running",
      platform: { [KEY]: dev("A", 1) },
    }),
    makeVm({
      uuid: UUID2,
      nameLabel: "db",
      powerState: "running",
      platform: { [KEY]: dev("A", 2) },
    }),
  ]);
  for (const u of [UUID1, UUID2]) {
    const r = await runInProcess(["register-vm", `--vm-uuid=${u}`], { env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
  await updateState(h.statePath, (s) => {
    // held until vgpu-admin is dead (10 s at most), then let go: the orphan completes
    s.faults = { "vm-param-set": { mode: "delay", ms: 10_000, times: 1, release: `${h.dir}/go` } };
  });
  const child = spawnCli(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"], h.env);
  const call = await until(
    "xe vm-param-set",
    () => readCallLog(readStateSync(h.statePath)).find((c) => c.argv[0] === "vm-param-set"),
  );
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  Deno.writeTextFileSync(`${h.dir}/go`, "");
  await until("the orphaned xe call", () => (processGone(call.pid) ? true : undefined));
  assert.equal(findVm(readStateSync(h.statePath), UUID1)!.powerState, "halted");
  return h;
}

Deno.test("after kill -9: the interrupted warning is said once per view, and the halted VM is marked", async () => {
  const h = await killedDuringSetPool();
  const once = (text: string) => text.split(`VM ${UUID1} has an interrupted set-pool`).length - 1;
  for (const argv of [["status"], ["scan-vms"], ["show-vm", `--vm-uuid=${UUID1}`]]) {
    const r = await runInProcess(argv, { env: h.env });
    assert.equal(once(r.stdout), 1, `${argv[0]} stdout: ${r.stdout}`);
    assert.equal(once(r.stderr), 0, `${argv[0]} stderr: ${r.stderr}`);
    const json = await runInProcess([...argv, "--format=json"], { env: h.env });
    assert.equal(once(json.stderr), 1, `${argv[0]} --format=json stderr: ${json.stderr}`);
    JSON.parse(json.stdout);
  }
  // show-vm of another VM: the warning is about a VM it does not show, so it goes to stderr
  const other = await runInProcess(["show-vm", `--vm-uuid=${UUID2}`], { env: h.env });
  assert.equal(once(other.stdout) + once(other.stderr), 1);
  assert.equal(once(other.stderr), 1);
  // every other command still warns on stderr
  const list = await runInProcess(["list-vms"], { env: h.env });
  assert.equal(once(list.stderr), 1);

  const status = await runInProcess(["status"], { env: h.env });
  const line = status.stdout.split("\n").find((l) => l.includes(`(UUID: ${UUID1})`))!;
  assert.match(
    line,
    new RegExp(
      `\\| ⚠ halted: it ran before the interrupted set-pool; 'vgpu-admin recover --vm-uuid=${UUID1}' starts it again`,
    ),
  );
  const dbLine = status.stdout.split("\n").find((l) => l.includes(`(UUID: ${UUID2})`))!;
  assert.doesNotMatch(dbLine, /halted/);
  const show = await runInProcess(["show-vm", `--vm-uuid=${UUID1}`], { env: h.env });
  assert.match(
    show.stdout,
    /\n {2}Power: {7}halted; ⚠ halted: it ran before the interrupted set-pool; /,
  );
  assert.doesNotMatch(show.stdout, /✓ in sync/);

  // recover starts it again: the marks go
  const rec = await runInProcess(["recover", "--yes"], { env: h.env });
  assert.equal(rec.code, 0, rec.stdout + rec.stderr);
  assert.equal(findVm(readStateSync(h.statePath), UUID1)!.powerState, "running");
  const after = await runInProcess(["status"], { env: h.env });
  assert.doesNotMatch(after.stdout, /halted|Interrupted/);
});
