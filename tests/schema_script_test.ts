/**
 * Seed 004 steps 1.3–1.5: `vgpu-admin schema | sqlite3 new.db` gives a database vgpu-admin uses
 * as its own (pools A and B included), running it twice changes nothing, and the seed's
 * validation queries answer. sqlite3 when installed, else node:sqlite's exec() of the same text.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runCli, tempDir, UUID1 } from "./helpers.ts";

const hasSqlite3 = (() => {
  try {
    return new Deno.Command("sqlite3", { args: ["-version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
if (!hasSqlite3) {
  // deno-lint-ignore no-console
  console.error("schema_script_test: sqlite3 not installed; the script runs through node:sqlite");
}

/** Runs `sql` against the file at `path` as `sqlite3 path < script` does. */
async function pipeIntoSqlite(path: string, sql: string): Promise<void> {
  if (!hasSqlite3) {
    const db = new DatabaseSync(path);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const child = new Deno.Command("sqlite3", {
    args: ["-bail", path],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(sql));
  await w.close();
  const r = await child.output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
}

function query(path: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all().map((r) => ({ ...r })) as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

Deno.test("schema | sqlite3 twice: pools A and B, the seed's validation queries, a usable database", async () => {
  const dir = tempDir();
  const fresh = `${dir}/never-created.db`;
  // no database needed to print it, and none is created
  const s = await runCli(["schema"], { env: { VGPU_DB: fresh } });
  assert.equal(s.code, 0, s.stderr);
  assert.throws(() => Deno.statSync(fresh), Deno.errors.NotFound);
  assert.match(s.stdout, /^INSERT OR IGNORE INTO pools .*'A', 'Pool A'/m);

  const db = `${dir}/new.db`;
  await pipeIntoSqlite(db, s.stdout);
  const pools = () => query(db, "SELECT pool_id, pool_name, enabled FROM pools ORDER BY pool_id");
  assert.deepEqual(pools(), [
    { pool_id: "A", pool_name: "Pool A", enabled: 1 },
    { pool_id: "B", pool_name: "Pool B", enabled: 1 },
  ]);
  // step 1.5's queries
  assert.deepEqual(
    query(db, "SELECT name FROM sqlite_master WHERE type='table' AND name='vms'"),
    [{ name: "vms" }],
  );
  assert.deepEqual(
    query(db, "PRAGMA table_info(vms)").map((c) => c.name),
    ["vm_id", "vm_uuid", "vm_name", "pool_id", "priority", "created_at", "updated_at"],
  );
  const indexes = query(db, "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='vms'")
    .map((r) => r.name);
  for (const i of ["idx_vm_uuid", "idx_vm_pool", "idx_vm_priority"]) assert.ok(indexes.includes(i));

  // vgpu-admin takes it as its own: no migration, no complaint
  const env = { VGPU_DB: db };
  const rename = await runCli(["set-pool-name", "--pool-id=B", "--name=Batch"], { env });
  assert.equal(rename.code, 0, rename.stderr);
  assert.equal(rename.stderr, "");
  const reg = await runCli(["register-vm", `--vm-uuid=${UUID1}`, "--offline"], { env });
  assert.equal(reg.code, 0, reg.stderr);

  // a second run changes nothing: the renamed pool and the VM stay
  await pipeIntoSqlite(db, s.stdout);
  assert.deepEqual(pools(), [
    { pool_id: "A", pool_name: "Pool A", enabled: 1 },
    { pool_id: "B", pool_name: "Batch", enabled: 1 },
  ]);
  const list = await runCli(["list-vms", "--format=json"], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.equal(JSON.parse(list.stdout).vms.length, 1);
  const doctor = await runCli(["doctor", "--format=json"], { env });
  const checks = JSON.parse(doctor.stdout).checks as { id: string; status: string }[];
  for (const id of ["database", "schema", "integrity"]) {
    const c = checks.find((x) => x.id === id);
    if (c) assert.equal(c.status, "ok", JSON.stringify(c));
  }
});
