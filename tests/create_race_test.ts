/**
 * A database being created by another vgpu-admin at this instant is never called damaged
 * (seen once: "database … is damaged (truncated: 4096 of 77824 bytes)" in the 8-creator race of
 * concurrency_test). The creator's last close checkpoints: SQLite writes page 1 (whose header
 * already counts every page) first, then the other pages, and removes the -wal only after the
 * last one. A probe that read the file before that end and looked for the -wal after it saw a
 * short file with no -wal: "truncated". A file that stays truncated is still refused.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { probeDatabase } from "../src/store/probe.ts";
import { runCli, runInProcess, tempDir, UUID1 } from "./helpers.ts";

/**
 * Replays, in a worker thread, what the creator's closing checkpoint does to the files, over and
 * over: -wal present, the file cut back to page 1 (new header), then the other pages written,
 * then the -wal removed. Every state it leaves is one SQLite leaves on the way; a probe that
 * looks once must never call any of them damaged.
 */
function checkpointReplayer(db: string, image: Uint8Array, pageSize: number): Worker {
  const code = `
    const db = ${JSON.stringify(db)};
    let running = true;
    self.onmessage = (e) => {
      if (e.data === "stop") running = false;
      else {
        const image = e.data;
        (async () => {
          self.postMessage("started");
          while (running) {
            Deno.writeFileSync(db + "-wal", new Uint8Array(0));
            const f = Deno.openSync(db, { write: true });
            f.truncateSync(${pageSize});
            f.seekSync(0, Deno.SeekMode.Start);
            f.writeSync(image.subarray(0, ${pageSize}));
            f.writeSync(image.subarray(${pageSize}));
            f.close();
            Deno.removeSync(db + "-wal");
            await new Promise((r) => setTimeout(r, 0));
          }
          self.postMessage("stopped");
        })();
      }
    };
  `;
  const w = new Worker(
    URL.createObjectURL(new Blob([code], { type: "application/javascript" })),
    { type: "module" },
  );
  w.postMessage(image);
  return w;
}

Deno.test("create race: a database mid-way through its creator's last checkpoint is never damaged", async () => {
  const dir = tempDir();
  const db = `${dir}/vgpu_config.db`;
  const reg = await runInProcess(["--db", db, "register-vm", `--vm-uuid=${UUID1}`, "--offline"]);
  assert.equal(reg.code, 0, reg.stderr);
  const image = Deno.readFileSync(db);
  const pageSize = (image[16] << 8) | image[17];
  assert.ok(image.length > pageSize, "a database of more than one page");
  const w = checkpointReplayer(db, image, pageSize);
  await new Promise<void>((r) => w.onmessage = () => r());
  const failures: string[] = [];
  let probes = 0;
  try {
    for (const end = Date.now() + 1500; Date.now() < end;) {
      for (let i = 0; i < 50; i++, probes++) {
        try {
          assert.equal(probeDatabase(db).kind, "ours");
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
      await new Promise((r) => setTimeout(r, 0)); // let the worker's messages through
    }
  } finally {
    const stopped = new Promise<void>((r) => w.onmessage = () => r());
    w.postMessage("stop");
    await stopped;
    w.terminate();
  }
  assert.deepEqual(failures.slice(0, 3), [], `${failures.length} of ${probes} probes failed`);
  // What the replayer left (complete, no -wal) is ours; the same file cut short stays refused.
  assert.equal(probeDatabase(db).kind, "ours");
  Deno.truncateSync(db, pageSize);
  assert.throws(() => probeDatabase(db), /is damaged \(truncated: \d+ of \d+ bytes\)/);
});

Deno.test("create race: 24 processes creating one missing database all succeed", async () => {
  const dir = tempDir();
  const db = `${dir}/new/vgpu_config.db`;
  const n = 24;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      runCli([
        "--db",
        db,
        "register-vm",
        `--vm-uuid=7e57ca5e-0000-4000-8000-${String(i).padStart(12, "0")}`,
        "--offline",
      ])),
  );
  const failed = results.filter((r) => r.code !== 0).map((r) => r.stderr.trim());
  assert.deepEqual(failed, []);
  const list = await runCli(["--db", db, "list-vms", "--format=json"]);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(JSON.parse(list.stdout).vms.length, n);
});

Deno.test({
  name:
    "create race: a creator whose switch to WAL meets another creator's write lock waits for it",
  sanitizeResources: false,
  async fn() {
    const dir = tempDir();
    const db = `${dir}/vgpu_config.db`;
    // What another vgpu-admin leaves for an instant: the empty 0600 file it created, and its
    // write lock held (the switch to WAL it is making). Held here for about a second.
    Deno.writeFileSync(db, new Uint8Array(0), { mode: 0o600 });
    const holder = new DatabaseSync(db);
    holder.exec("BEGIN IMMEDIATE");
    const creator = runCli(["--db", db, "register-vm", `--vm-uuid=${UUID1}`, "--offline"]);
    await new Promise((r) => setTimeout(r, 1000));
    holder.exec("COMMIT");
    holder.close();
    const r = await creator;
    assert.equal(r.code, 0, r.stderr);
    const list = await runCli(["--db", db, "list-vms", "--format=json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(JSON.parse(list.stdout).vms.length, 1);
  },
});
