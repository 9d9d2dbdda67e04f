// Hangs, crashes, lies and recoveries through the CLI, in-process, against the argv-keyed fake
// runner (tests/fake-runner.ts): a hung xe call ends at once with its timeout error and moves the
// fake clock, so these run in milliseconds. A "crash" is an effect that throws a plain Error after
// xe answered: the command dies there as with kill -9 (no undo, the journal entry stays open, the
// VM's lock is released). Each test names the rule it pins; notes/core.md lists the mutations.
import assert from "node:assert/strict";
import { ADOPTED, host, KEY } from "./fake-runner.ts";
import { UUID1 } from "./helpers.ts";

const NEW =
  `-global kvm-pit.lost_tick_policy=discard -device vgpu-stub,pool_id=A,priority=low,vm_id=7`;
const SET_LOW = ["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"];

class Crash extends Error {}
const crash = () => {
  throw new Crash("simulated kill -9");
};

async function adopted(power: "running" | "halted" = "running") {
  const h = host();
  h.xe.vm(UUID1).power = power;
  const r = await h.run(["adopt", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  return h;
}

// ---- a hang at each xe step: bounded, undone, no real waiting -------------------------------

const HANGS = [
  { step: "vm-shutdown", pattern: /^vm-shutdown /, power: ["running"] },
  {
    step: "the args read",
    pattern: /^vm-param-get \S+ param-name=platform/,
    power: ["running", "halted"],
  },
  { step: "vm-param-set", pattern: /^vm-param-set /, power: ["running", "halted"] },
  { step: "vm-start", pattern: /^vm-start /, power: ["running"] },
] as const;

for (const s of HANGS) {
  for (const power of s.power) {
    Deno.test(`${power} VM, xe hangs at ${s.step}: bounded, original state, args and row`, async () => {
      const h = await adopted(power);
      h.xe.expect(s.pattern, { hang: true });
      const r = await h.run(SET_LOW);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /did not answer within \d+ s/);
      assert.doesNotMatch(r.stderr, /bug:/);
      const vm = h.xe.vm(UUID1);
      assert.equal(vm.power, power);
      assert.equal(vm.platform[KEY], ADOPTED);
      assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 });
      if (s.step === "vm-shutdown") {
        // a shutdown whose answer never came may still halt the VM: the entry stays open
        assert.match(r.stderr, /nothing was changed and it is still running/);
        assert.match(r.stderr, /may still complete later/);
        assert.equal(h.journalOpen(), 1);
      } else {
        assert.match(r.stderr, /Everything was put back/);
        assert.equal(h.journalOpen(), 0);
        if (power === "running") assert.equal(vm.bootedArgs, ADOPTED);
      }
      h.xe.verify();
    });
  }
}

Deno.test("a clean shutdown refused with an answer leaves nothing pending: the entry closes", async () => {
  const h = await adopted();
  h.xe.expect(/^vm-shutdown /, {
    code: 1,
    stderr: "VM didn't acknowledge the need to shutdown.\n",
  });
  const r = await h.run(SET_LOW);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing was changed and it is still running/);
  assert.doesNotMatch(r.stderr, /may still complete later/);
  assert.equal(h.journalOpen(), 0, "no shutdown can be pending: nothing for recover");
  assert.equal((await h.run(["status"])).stderr, "");
});

Deno.test("a clean shutdown that completes after the wait: recover starts the VM again", async () => {
  const h = await adopted();
  h.xe.expect(/^vm-shutdown /, {
    hang: true,
    effect: () => void (h.xe.vm(UUID1).haltAt = h.clock.now().getTime() + 30_000),
  });
  const r = await h.run(SET_LOW);
  assert.equal(r.code, 1);
  assert.equal(h.journalOpen(), 1);
  const rec = await h.run(["recover", "--yes"]);
  assert.equal(rec.code, 0, rec.stderr);
  assert.match(rec.stderr, /waiting up to 120 s for the pending clean shutdown/);
  assert.equal(h.xe.vm(UUID1).power, "running");
  assert.equal(h.xe.vm(UUID1).bootedArgs, ADOPTED);
  assert.equal(h.journalOpen(), 0);
});

// ---- issue 18 B5: recover waits only for a shutdown that was sent and never answered --------

Deno.test("B5: a recover killed mid-way: the next recover does not wait for a shutdown", async () => {
  const h = await adopted();
  // set-pool dies right after its clean shutdown was answered (step "stopping" in the journal)
  h.xe.expect(/^vm-shutdown /, { thenModel: true, effect: crash });
  const r = await h.run(SET_LOW);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bug: simulated kill -9/);
  assert.equal(h.journalOpen(), 1);
  assert.equal(h.xe.vm(UUID1).power, "halted");
  // the first recover dies right after starting the VM
  h.xe.expect(/^vm-start /, { thenModel: true, effect: crash });
  const first = await h.run(["recover", "--yes"]);
  assert.equal(first.code, 1);
  assert.equal(h.xe.vm(UUID1).power, "running");
  assert.equal(h.journalOpen(), 1);
  const slept = h.clock.elapsedMs;
  const second = await h.run(["recover", "--yes"]);
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /waiting up to/, "no shutdown can be pending any more");
  assert.equal(h.clock.elapsedMs, slept, "nothing was waited for");
  assert.match(second.stdout, /change undone; it is running/);
  assert.equal(h.journalOpen(), 0);
  h.xe.verify();
});

// ---- issue 18 B6: every args write read back, every start confirmed ------------------------

Deno.test("B6: vm-start answers 0 but the VM stays halted: a failure, undone, never 'applied'", async () => {
  const h = await adopted();
  h.xe.expect(/^vm-start /, {}); // exit 0, nothing started
  const r = await h.run(SET_LOW);
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stdout, /Applied/);
  assert.match(r.stderr, /xe vm-start answered, but VM \S+ is halted, not running/);
  assert.match(r.stderr, /Everything was put back/);
  assert.equal(h.xe.vm(UUID1).power, "running");
  assert.equal(h.xe.vm(UUID1).platform[KEY], ADOPTED);
  assert.equal(h.journalOpen(), 0);
});

Deno.test("B6: vm-param-set answers 0 but writes nothing: a failure, nothing counted as written", async () => {
  const h = await adopted();
  h.xe.expect(/^vm-param-set /, { stdout: "" }); // exit 0, not applied
  const r = await h.run(SET_LOW);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /xe vm-param-set answered, but the VM's args read back as/);
  assert.equal(h.xe.vm(UUID1).platform[KEY], ADOPTED);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 });
  assert.equal(h.xe.vm(UUID1).power, "running");
  assert.equal((await h.run(["sync", "--check"])).code, 0, "no drift left");
});

Deno.test("B6: register-vm whose write is silently not applied is not registered", async () => {
  const h = host();
  h.xe.vm(UUID1).platform = { [KEY]: "-vga std" };
  h.xe.expect(/^vm-param-set /, { stdout: "" });
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /read back as/);
  assert.deepEqual(h.row(), {}, "no row: no vm_id handed out for args the VM does not carry");
});

// ---- the survivors of issue 20: each rule broken once must fail a test ----------------------

Deno.test("a VM that ran and cannot be started is not counted as back: the entry stays open", async () => {
  const h = await adopted();
  h.xe.expect(/^vm-param-set /, { thenModel: true, effect: crash });
  assert.equal((await h.run(SET_LOW)).code, 1);
  const stuck = { code: 1, stderr: "An emulator required to run this VM failed to start\n" };
  h.xe.expect(/^vm-start /, stuck);
  const rec = await h.run(["recover", "--yes"]);
  assert.equal(rec.code, 1);
  assert.match(rec.stderr, /is not recovered: could not start the VM again: .*emulator/);
  assert.match(rec.stderr, /the VM is not running/);
  assert.equal(h.xe.vm(UUID1).power, "halted");
  assert.equal(h.journalOpen(), 1, "a halted VM that ran is not 'back'");
  const again = await h.run(["recover", "--yes"]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(h.xe.vm(UUID1).power, "running");
  assert.equal(h.journalOpen(), 0);
});

Deno.test("recover never restores the row when the args could not be written back", async () => {
  const h = await adopted();
  // the run's own undo dies while writing the original args back: step undoing, both at target
  h.xe.expect(/^vm-param-set /, { thenModel: true }); // the forward write
  h.xe.expect(/^vm-start /, {
    code: 1,
    stderr: "An emulator required to run this VM failed to start\n",
  });
  h.xe.expect(/^vm-param-set /, { effect: crash }); // the undo's write: killed before it lands
  const r = await h.run(SET_LOW);
  assert.equal(r.code, 1);
  assert.equal(h.journalOpen(), 1);
  assert.equal(h.xe.vm(UUID1).platform[KEY], NEW);
  // recover cannot write the args back either: the database must keep what the VM carries
  h.xe.expect(/^vm-param-set /, {
    code: 1,
    stderr: "Another operation involving the object is currently in progress\n",
  });
  const rec = await h.run(["recover", "--yes"]);
  assert.equal(rec.code, 0, rec.stderr);
  assert.match(rec.stdout, /the new configuration it carries is kept/);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 0, vm_id: 7 }, "row = what the VM carries");
  assert.equal(h.xe.vm(UUID1).platform[KEY], NEW);
  assert.equal(h.xe.vm(UUID1).power, "running");
  assert.equal(h.journalOpen(), 0);
});

Deno.test("a live operation is never shown as interrupted: its lock is held", async () => {
  const h = await adopted();
  const seen: { code: number; stdout: string; stderr: string }[] = [];
  h.xe.expect(/^vm-shutdown /, {
    thenModel: true,
    effect: async () => {
      seen.push(await h.run(["sync", "--check"]), await h.run(["status"]));
      seen.push(await h.run(["recover", "--yes"]));
    },
  });
  const r = await h.run(SET_LOW);
  assert.equal(r.code, 0, r.stderr);
  const [check, status, recover] = seen;
  assert.doesNotMatch(check.stderr + status.stderr, /interrupted/);
  assert.notEqual(check.code, 3, "a live set-priority is not drift for sync --check");
  assert.equal(status.code, 0, status.stderr);
  assert.match(recover.stdout, /nothing to recover/);
  assert.equal(h.journalOpen(), 0);
});
