// Issue 21 items 2, 3, 6 and 7, issue 18 B4 and B8, through the CLI in-process against the fake
// runner (tests/fake-runner.ts), plus the two stdin cases as subprocesses (a real stdin).
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ADOPTED, host, KEY, webVm } from "./fake-runner.ts";
import { cliCommand, cliEnv, fakeHost, UUID1, UUID2, UUID3 } from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";

class Crash extends Error {}
const crash = () => {
  throw new Crash("simulated kill -9");
};

// ---- issue 21 item 2: no crash frees a vm_id a VM still carries ----------------------------

Deno.test("remove-vm: a crash while the device is being removed keeps the row (its vm_id stays held)", async () => {
  const h = host();
  assert.equal((await h.run(["adopt", "--yes"])).code, 0);
  // power lost while vm-param-set is in flight: xapi never got it
  h.xe.expect(/^vm-param-set /, { effect: crash });
  const r = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(r.code, 1);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 }, "the row is still there");
  assert.equal(h.xe.vm(UUID1).platform[KEY], ADOPTED);
  // and after the write but before the row went: drift shown, vm_id still held
  h.xe.expect(/^vm-param-set /, { thenModel: true, effect: crash });
  assert.equal((await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"])).code, 1);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 });
  const check = await h.run(["sync", "--check"]);
  assert.equal(check.code, 3, "the half-done removal is visible as drift");
  // a rerun finishes it
  const again = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(h.row(), {});
});

// ---- issue 21 item 3: an interrupted operation on a VM deleted from xapi --------------------

Deno.test("recover closes an entry whose VM was deleted from xapi; history says so", async () => {
  const h = host();
  assert.equal((await h.run(["adopt", "--yes"])).code, 0);
  h.xe.expect(/^vm-param-set /, { thenModel: true, effect: crash });
  const r = await h.run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"]);
  assert.equal(r.code, 1);
  assert.equal(h.journalOpen(), 1);
  h.xe.vms.delete(UUID1); // xe vm-destroy by someone
  const refused = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /run 'vgpu-admin recover/);
  const rec = await h.run(["recover", "--yes"]);
  assert.equal(rec.code, 0, rec.stderr);
  assert.match(rec.stdout, /no longer exists in xapi/);
  assert.equal(h.journalOpen(), 0);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 }, "the row as it was before");
  const hist = await h.run(["history", "--vm-uuid=" + UUID1, "--format=json"]);
  assert.equal(hist.code, 0, hist.stderr);
  assert.match(hist.stdout, /"command": "recover"/);
  // and the usual way out works again
  const rm = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(rm.code, 0, rm.stderr);
  const check = await h.run(["sync", "--check"]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

// ---- issue 21 item 6: xe answers are checked against the question --------------------------

const record = (uuid: string, power: string, args: string) =>
  `uuid ( RO)                  : ${uuid}\n            name-label ( RW): web\n     is-control-domain ( RO): false\n           power-state ( RO): ${power}\n           resident-on ( RO): <not in database>\n              platform (MRW): ${KEY}: ${args}\n\n\n`;

Deno.test("xe answering vm-list uuid=X with another VM: an error, nothing acted on", async () => {
  const h = host();
  h.xe.vm(UUID1).power = "halted";
  assert.equal((await h.run(["adopt", "--yes"])).code, 0);
  h.xe.expect(/^vm-list .*uuid=/, { stdout: record(UUID3, "halted", "-vga std") });
  const r = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`asked for VM ${UUID1} and answered with VM ${UUID3}`));
  assert.equal(h.xe.vm(UUID1).platform[KEY], ADOPTED, "the VM's args are untouched");
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 });
  h.xe.expect(/^vm-list .*uuid=/, { stdout: record(UUID3, "running", ADOPTED) });
  const s = await h.run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"]);
  assert.equal(s.code, 1);
  assert.equal(h.xe.vm(UUID1).power, "halted", "a halted VM is never started on such an answer");
  assert.doesNotMatch(h.xe.calls.join("\n"), /vm-start|vm-param-set/);
});

Deno.test("a uuid with a CR left by CRLF line ends is an error, never data", async () => {
  const h = host();
  const crlf = record(UUID1, "running", ADOPTED).replaceAll("\n", "\r\n");
  h.xe.expect(/^vm-list /, { stdout: crlf });
  const r = await h.run(["adopt", "--yes"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /printed CRLF line ends, which xe never does; nothing was done/);
  assert.doesNotMatch(r.stderr, /bug:/);
  assert.deepEqual(h.row(), {});
  const upperUuid = "7D1E2F00-AAAA-4BBB-8CCC-000000000001"; // xe prints lower case only
  h.xe.expect(/^vm-list /, { stdout: record(upperUuid, "running", ADOPTED) });
  const upper = await h.run(["adopt", "--yes"]);
  assert.equal(upper.code, 1);
  assert.match(upper.stderr, /where a VM uuid belongs; nothing was done/);
  assert.deepEqual(h.row(), {});
});

// ---- issue 18 B4: disable-pool and a concurrent set-pool -----------------------------------

Deno.test("B4: a pool disabled while a set-pool runs takes no VM: checked inside the row's write", async () => {
  const h = host();
  assert.equal((await h.run(["adopt", "--yes"])).code, 0);
  let disabled = { code: -1, stderr: "" };
  h.xe.expect(/^vm-shutdown /, {
    thenModel: true,
    effect: async () => void (disabled = await h.run(["disable-pool", "--pool-id=B"])),
  });
  const r = await h.run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"]);
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /vGPU pool B \("Pool B"\) is disabled and takes no new VMs/);
  assert.match(r.stderr, /Everything was put back/);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 });
  assert.equal(h.xe.vm(UUID1).power, "running");
  assert.equal(h.xe.vm(UUID1).platform[KEY], ADOPTED);
});

// ---- issue 21 item 7, issue 18 B8: the answer to the question ------------------------------

async function shell(script: string, env: Record<string, string>) {
  const r = await new Deno.Command("sh", {
    args: ["-c", script],
    clearEnv: true,
    env: cliEnv(env),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

for (
  const [name, stdin, says] of [
    ["stdin is a directory", "/", /cannot read the answer from stdin \(it is a directory\)/],
    ["stdin never ends a line (< /dev/zero)", "/dev/zero", /Cancelled; nothing changed\./],
  ] as const
) {
  Deno.test(`at the question, ${name}: one clear line, nothing changed, exit 1`, async () => {
    const h = fakeHost([
      makeVm({ uuid: UUID1, nameLabel: "web", powerState: "halted", platform: {} }),
    ]);
    const reg = await shell(
      `${cliCommand().map(q).join(" ")} register-vm --vm-uuid=${UUID1} </dev/null`,
      h.env,
    );
    assert.equal(reg.code, 0, reg.stderr);
    const r = await shell(
      `${cliCommand().map(q).join(" ")} set-pool --vm-uuid=${UUID1} --pool=B < ${stdin}`,
      h.env,
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, says);
    assert.doesNotMatch(r.stderr, /bug:/);
    const db = new DatabaseSync(h.dbPath, { readOnly: true });
    assert.deepEqual({ ...db.prepare("SELECT pool_id FROM vms").get() }, { pool_id: "A" });
    db.close();
  });
}

Deno.test("register-vm never hands out a vm_id that an unregistered VM on the host carries", async () => {
  const h = host();
  // VM 1 carries vm_id 1 by hand (not registered); VM 2 has no device
  h.xe.vm(UUID1).platform[KEY] = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";
  h.xe.vms.set(UUID2, { ...webVm("-vga std", "halted"), uuid: UUID2, nameLabel: "db" });
  const r = await h.run(["register-vm", `--vm-uuid=${UUID2}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 1, vm_id: 2 }, "1 is carried: 2 is given");
  assert.match(h.xe.vm(UUID2).platform[KEY], /vm_id=2/);
});
