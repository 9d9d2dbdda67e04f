// The in-process undo is "recover this entry now" (issue 20 item 1): it runs through the same
// state machine as `recover`, so an undo that put everything back closes its journal entry, and
// its agreement test is the parsed one (issue 20's defect: every adopted VM, whose own vgpu-stub
// is not spelled canonically, was left "interrupted" after a perfect undo). Through the CLI,
// in-process, against the argv-keyed fake runner (tests/fake-runner.ts): no xe subprocess, no
// real waiting.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ADOPTED, host, KEY } from "./fake-runner.ts";
import { tempDir, UUID1 } from "./helpers.ts";

const EMULATOR = "An emulator required to run this VM failed to start\n";

Deno.test("issue 20: an adopted VM whose restart fails is put back, the entry closed, no warning after", async () => {
  const h = host();
  const adopt = await h.run(["adopt", "--yes"]);
  assert.equal(adopt.code, 0, adopt.stderr);
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 });
  h.xe.expect(/^vm-start /, { code: 1, stderr: EMULATOR });
  const r = await h.run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /starting the VM failed: .*emulator required/);
  assert.match(
    r.stderr,
    new RegExp(
      `Everything was put back\\. VM ${UUID1} is now running with args: ${
        ADOPTED.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      }; database: vGPU pool A, priority high, VM ID 7`,
    ),
  );
  assert.doesNotMatch(r.stderr, /recover/);
  const vm = h.xe.vm(UUID1);
  assert.equal(vm.power, "running");
  assert.equal(vm.platform[KEY], ADOPTED, "the VM's own spelling is back, byte for byte");
  assert.equal(vm.bootedArgs, ADOPTED, "restarted with its original args");
  assert.deepEqual(h.row(), { pool_id: "A", priority: 2, vm_id: 7 });
  assert.equal(h.journalOpen(), 0, "the journal entry is closed");
  // nothing warns afterwards, and show-vm agrees
  for (const argv of [["show-vm", `--vm-uuid=${UUID1}`], ["status"], ["list-vms"]]) {
    const after = await h.run(argv);
    assert.equal(after.code, 0, `${argv[0]}: ${after.stderr}`);
    assert.equal(after.stderr, "", argv[0]);
  }
  const recover = await h.run(["recover", "--yes"]);
  assert.match(recover.stdout, /No interrupted operations/);
  h.xe.verify();
});

// ---- issue 21 item 1: the database or the disk fails mid-reconfiguration -------------------

/** A 4 MiB tmpfs (root only): fill() makes every SQLite write there fail with SQLITE_FULL. */
function smallDisk(): { dir: string; fill(): void; free(): void; close(): void } | null {
  const dir = tempDir("vgpu-full-");
  const mount = new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  if (!mount.success) return null;
  const filler = `${dir}/filler`;
  return {
    dir,
    fill() {
      const f = Deno.openSync(filler, { write: true, create: true, append: true });
      const block = new Uint8Array(64 * 1024);
      try {
        for (;;) f.writeSync(block);
      } catch {
        /* ENOSPC: the disk is full */
      } finally {
        f.close();
      }
    },
    free() {
      Deno.removeSync(filler);
    },
    close() {
      new Deno.Command("umount", { args: [dir] }).outputSync();
    },
  };
}

const CAN_MOUNT = (() => {
  const d = smallDisk();
  d?.close();
  return d !== null;
})();

interface Failure {
  name: string;
  /** Starts failing the database; returns what puts it right again. */
  start(h: ReturnType<typeof host>, disk: ReturnType<typeof smallDisk>): () => void;
  says: RegExp;
}

const FAILURES: Failure[] = [
  {
    name: "another program holds the write lock",
    start(h) {
      const holder = new DatabaseSync(h.dbPath);
      holder.exec("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE");
      return () => {
        holder.exec("ROLLBACK");
        holder.close();
      };
    },
    says: /is locked by another process/,
  },
  {
    name: "the disk is full",
    start(_h, disk) {
      disk!.fill();
      return () => disk!.free();
    },
    says: /database or disk is full|disk I\/O error/, // SQLite says either when its file system is full
  },
];

const STEPS: { verb: string; pattern: RegExp }[] = [
  { verb: "vm-shutdown", pattern: /^vm-shutdown / },
  { verb: "vm-param-get of the args", pattern: /^vm-param-get \S+ param-name=platform/ },
  { verb: "vm-param-set", pattern: /^vm-param-set / },
  { verb: "vm-start", pattern: /^vm-start / },
];

for (const f of FAILURES) {
  for (const s of STEPS) {
    Deno.test({
      name: `issue 21: ${f.name} after ${s.verb}: the VM runs again, the message names recover`,
      ignore: f.name === "the disk is full" && !CAN_MOUNT,
      fn: async () => {
        const disk = f.name === "the disk is full" ? smallDisk() : null;
        try {
          const h = disk === null ? host() : host(disk.dir);
          const adopt = await h.run(["adopt", "--yes"]);
          assert.equal(adopt.code, 0, adopt.stderr);
          let release = () => {};
          h.xe.expect(s.pattern, {
            thenModel: true,
            effect: () => void (release = f.start(h, disk)),
          });
          const r = await h.run(
            ["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"],
            { busyTimeoutMs: 50 },
          );
          release();
          assert.equal(r.code, 1, r.stderr);
          assert.match(r.stderr, f.says);
          assert.doesNotMatch(r.stderr, /bug:/);
          // the store's "nothing was changed" advice is not true in the middle of a change
          assert.doesNotMatch(r.stderr, /nothing was changed/);
          const vm = h.xe.vm(UUID1);
          assert.equal(
            vm.power,
            "running",
            "a VM that ran is started again, whatever the database",
          );
          assert.match(r.stderr, new RegExp(`VM ${UUID1} is now running with args: `));
          assert.match(r.stderr, /journal entry could not be closed: run 'vgpu-admin recover/);
          assert.equal(h.journalOpen(), 1, "the entry stays open for recover");
          if (s.verb === "vm-start") {
            // everything was applied, only the close failed: finished, never undone
            const after = h.xe.calls.slice(h.xe.calls.findIndex((c) => c.startsWith("vm-start")));
            assert.deepEqual(after.filter((c) => c.startsWith("vm-param-set")), []);
            assert.match(r.stderr, /closing the journal entry failed/);
            assert.match(vm.platform[KEY], /priority=low/);
          }
          // once the database works again, recover ends it: database and args agree
          const rec = await h.run(["recover", "--yes"]);
          assert.equal(rec.code, 0, rec.stderr);
          assert.equal(h.journalOpen(), 0);
          assert.equal(h.xe.vm(UUID1).power, "running");
          const row = h.row() as { pool_id: string; priority: number; vm_id: number };
          const carried = vm.platform[KEY].match(/priority=(\w+)/)![1];
          assert.equal(["low", "medium", "high"][row.priority], carried, "row = args");
          const after = await h.run(["status"]);
          assert.equal(after.stderr, "", "nothing warns afterwards");
          h.xe.verify();
        } finally {
          disk?.close();
        }
      },
    });
  }
}
