// Every stop and start vgpu-admin causes is findable in history (issue 18 C12: "why did this VM
// reboot at 05:26?"): a reconfiguration's stop and restart, the restart of an operation undone in
// the same process, and recover's start after kill -9. The table shows what changed, per field.
import assert from "node:assert/strict";
import { fakeHost, processGone, runInProcess, spawnCli, until, UUID1 } from "./helpers.ts";
import { findVm, makeVm, readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const DEV = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";

async function runningWeb() {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web", powerState: "running", platform: { [KEY]: DEV } }),
  ]);
  const run = (argv: string[]) => runInProcess(argv, { env: h.env });
  assert.equal((await run(["register-vm", `--vm-uuid=${UUID1}`])).code, 0);
  return { h, run };
}

interface Row {
  command: string;
  vm_uuid: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

async function history(run: (a: string[]) => ReturnType<typeof runInProcess>): Promise<Row[]> {
  const r = await run(["history", "--format=json"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout).history as Row[]).reverse(); // oldest first
}

const power = (rows: Row[]) =>
  rows.filter((r) => r.after !== null && "power" in r.after).map((r) =>
    `${r.command}: ${r.before?.power} -> ${r.after?.power} (${r.after?.how})`
  );

Deno.test("history: a reconfiguration's stop and restart are rows of their own, shown as changes", async () => {
  const { run } = await runningWeb();
  const r = await run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  const rows = await history(run);
  assert.deepEqual(rows.map((x) => x.command), ["register-vm", "set-pool", "set-pool", "set-pool"]);
  assert.deepEqual(power(rows), [
    "set-pool: running -> halted (clean shutdown)",
    "set-pool: halted -> running (start)",
  ]);
  assert.ok(rows.every((x) => x.vm_uuid === UUID1));
  const table = await run(["history"]);
  const lines = table.stdout.split("\n");
  assert.ok(lines.some((l) => l.includes("│ power halted -> running (start) ")), table.stdout);
  assert.ok(lines.some((l) => l.includes("│ power running -> halted (clean shutdown) ")));
  assert.ok(lines.some((l) => l.includes("│ pool_id A -> B ")), table.stdout);
});

Deno.test("history: an operation undone in the same process still shows the stop and the restart", async () => {
  const { h, run } = await runningWeb();
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-start": { mode: "fail", stderr: "Error: no memory\n", times: 1 } };
  });
  const r = await run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const vm = findVm(readStateSync(h.statePath), UUID1)!;
  assert.equal(vm.powerState, "running", "put back and restarted");
  assert.deepEqual(power(await history(run)), [
    "set-priority: running -> halted (clean shutdown)",
    "set-priority: halted -> running (start)",
  ]);
});

Deno.test("history: recover's start after kill -9 is a row of its own", async () => {
  const { h, run } = await runningWeb();
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
  await child.status;
  Deno.writeTextFileSync(`${h.dir}/go`, "");
  await until("the orphaned xe call", () => (processGone(call.pid) ? true : undefined));
  const rec = await run(["recover", "--yes"]);
  assert.equal(rec.code, 0, rec.stdout + rec.stderr);
  assert.equal(findVm(readStateSync(h.statePath), UUID1)!.powerState, "running");
  assert.deepEqual(power(await history(run)), [
    "set-pool: running -> halted (clean shutdown)",
    "recover: halted -> running (start)",
  ]);
});
