/**
 * Another application's SQLite file is never ours (issue 21 item 5, issue 18 C15): a live
 * WAL-mode database whose schema is only in its -wal (its owner holds it open: a real second
 * process), and a WAL-mode file with our table names, are refused by every command without a
 * byte of them, their -wal or their -shm changing, and nothing is left beside them. doctor on
 * our own database leaves no -wal or -shm either.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { fileHash, runCli, tempDir, UUID1 } from "./helpers.ts";

/** The files beside `db` (its name and every name that starts with it), sorted. */
function beside(db: string): string[] {
  const dir = db.slice(0, db.lastIndexOf("/"));
  const base = db.slice(db.lastIndexOf("/") + 1);
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(base)).sort();
}

async function hashes(db: string): Promise<string[]> {
  return await Promise.all(["", "-wal", "-shm"].map((s) => fileHash(db + s)));
}

const COMMANDS: string[][] = [
  ["list-vms"],
  ["status", "--offline"],
  ["doctor"],
  ["settings", "xe-timeout", "20"],
  ["register-vm", `--vm-uuid=${UUID1}`, "--pool=A", "--offline"],
  ["set-pool-name", "--pool-id=A", "--name=gpu"],
];

/**
 * Another application: opens `db` in WAL mode, never checkpoints, creates its tables (they are
 * only in -wal then), says "ready" and holds the file open until its stdin closes.
 */
function liveOwner(db: string, sql: string): Deno.ChildProcess {
  const code = `
    import { DatabaseSync } from "node:sqlite";
    const db = new DatabaseSync(${JSON.stringify(db)});
    db.exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;");
    db.exec(${JSON.stringify(sql)});
    console.log("ready");
    for await (const _ of Deno.stdin.readable) { /* until the test closes it */ }
    db.close();
  `;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function waitReady(p: Deno.ChildProcess): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const r = p.stdout.getReader();
  let text = "";
  while (!text.includes("ready")) {
    const { value, done } = await r.read();
    if (done) throw new Error("the owner process ended before it was ready");
    text += new TextDecoder().decode(value);
  }
  return r;
}

for (
  const [what, sql] of [
    ["another application's tables", "CREATE TABLE photos(id, path); CREATE TABLE tags(name);"],
    [
      "our table names with other columns",
      "CREATE TABLE vms(x); CREATE TABLE pools(y); PRAGMA user_version = 5;",
    ],
  ] as const
) {
  Deno.test(`foreign db: a live WAL-mode database (${what}, schema only in -wal) is refused unchanged`, async () => {
    const dir = tempDir();
    const db = `${dir}/app.db`;
    const owner = liveOwner(db, sql);
    const reader = await waitReady(owner);
    try {
      // the schema is only in -wal: page 1 of the file itself is empty (version 0)
      assert.deepEqual(beside(db), ["app.db", "app.db-shm", "app.db-wal"]);
      const before = await hashes(db);
      for (const argv of COMMANDS) {
        const r = await runCli([`--db=${db}`, ...argv]);
        assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stdout}${r.stderr}`);
        assert.doesNotMatch(r.stderr, /bug:/);
        if (argv[0] === "doctor") {
          assert.match(r.stdout, new RegExp(`${db} is not a vgpu-admin database|damaged schema`));
        } else {
          assert.match(
            r.stderr,
            new RegExp(
              `^error: (${db} is not a vgpu-admin database \\(|database ${db} has a damaged schema)`,
            ),
            argv.join(" "),
          );
        }
        assert.deepEqual(await hashes(db), before, `${argv.join(" ")} changed a byte`);
        assert.deepEqual(beside(db), ["app.db", "app.db-shm", "app.db-wal"]);
      }
    } finally {
      reader.releaseLock();
      await owner.stdin.close();
      await owner.stdout.cancel();
      await owner.status;
    }
    // the owner's data is whole and holds none of our tables
    const check = new DatabaseSync(db, { readOnly: true });
    try {
      const names = (check.prepare("SELECT name FROM sqlite_master ORDER BY name").all() as {
        name: string;
      }[]).map((r) => r.name);
      assert.ok(!names.includes("settings") && !names.includes("history"), names.join(","));
    } finally {
      check.close();
    }
  });
}

Deno.test("foreign db: a WAL-mode file with our table names gets no -wal or -shm beside it", async () => {
  const dir = tempDir();
  const db = `${dir}/app.db`;
  const d = new DatabaseSync(db);
  d.exec("PRAGMA journal_mode=WAL; CREATE TABLE vms(x); CREATE TABLE pools(y);");
  d.exec("PRAGMA user_version = 5");
  d.close();
  assert.deepEqual(beside(db), ["app.db"]);
  const before = await fileHash(db);
  for (const argv of COMMANDS) {
    const r = await runCli([`--db=${db}`, ...argv]);
    assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stderr, /bug:/);
    assert.deepEqual(beside(db), ["app.db"], argv.join(" "));
    assert.equal(await fileHash(db), before, argv.join(" "));
  }
});

Deno.test("foreign db: doctor leaves no -wal or -shm beside our own database", async () => {
  const dir = tempDir();
  const db = `${dir}/vgpu_config.db`;
  const w = await runCli([`--db=${db}`, "settings", "xe-timeout", "20"]);
  assert.equal(w.code, 0, w.stderr);
  assert.deepEqual(beside(db), ["vgpu_config.db"]);
  const r = await runCli([`--db=${db}`, "doctor"], { env: { VGPU_XE: "/nonexistent/xe" } });
  assert.match(r.stdout, /✓ schema: version \d+ \(current\)/);
  assert.deepEqual(beside(db), ["vgpu_config.db"]);
});

// The start hook's quick open (src/hook/db.ts) skips the full open's checks for a regular file
// that is ours at the current schema version: it must tell that from the bytes, or a live WAL
// database of another application whose user_version happens to be ours would be read through
// SQLite (and get a read mark in its -shm) at every VM start.
for (
  const [what, sql] of [
    [
      "another application's tables",
      "CREATE TABLE photos(id, path); CREATE TABLE tags(name); PRAGMA user_version = 5;",
    ],
    [
      "our table names with other columns",
      "CREATE TABLE vms(x); CREATE TABLE pools(y); CREATE TABLE settings(z); PRAGMA user_version = 5;",
    ],
  ] as const
) {
  Deno.test(`foreign db: the start hook leaves a live WAL-mode database at our user_version (${what}) unchanged`, async () => {
    const dir = tempDir();
    const db = `${dir}/app.db`;
    const log = `${dir}/hook.log`;
    const owner = liveOwner(db, sql);
    const reader = await waitReady(owner);
    try {
      assert.deepEqual(beside(db), ["app.db", "app.db-shm", "app.db-wal"]);
      const before = await hashes(db);
      // as the installed hook script runs it: startup-hook first (hook.ts, the quick open)
      const r = await runCli(
        ["startup-hook", `--vm-uuid=${UUID1}`, "--reason=none", `--db=${db}`],
        { env: { VGPU_LOG: log, VGPU_XE: "/nonexistent/xe" } },
      );
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^error: (${db} is not a vgpu-admin database \\(|database ${db} has a damaged schema)`,
        ),
      );
      assert.doesNotMatch(r.stderr, /bug:/);
      assert.deepEqual(await hashes(db), before, "the hook changed a byte (a read mark in -shm?)");
      assert.deepEqual(beside(db), ["app.db", "app.db-shm", "app.db-wal"]);
    } finally {
      reader.releaseLock();
      await owner.stdin.close();
      await owner.stdout.cancel();
      await owner.status;
    }
  });
}

Deno.test("foreign db: the hook's byte check takes our own database, also live with a -wal", async () => {
  const { ourSchemaAt } = await import("../src/store/page1.ts");
  const { SCHEMA_VERSION } = await import("../src/store/migrations.ts");
  const db = `${tempDir()}/vgpu_config.db`;
  const w = await runCli([`--db=${db}`, "settings", "xe-timeout", "20"]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(ourSchemaAt(db, SCHEMA_VERSION), true);
  assert.equal(ourSchemaAt(db, SCHEMA_VERSION - 1), false);
  // another vgpu-admin holds it open: its newest page 1 is read from the -wal
  const held = new DatabaseSync(db);
  try {
    held.exec("PRAGMA wal_autocheckpoint=0; CREATE TABLE extra(a); DROP TABLE extra;");
    assert.ok(beside(db).includes("vgpu_config.db-wal"));
    assert.equal(ourSchemaAt(db, SCHEMA_VERSION), true);
    held.exec("DROP TABLE stale_runs"); // committed only in the -wal
    assert.equal(ourSchemaAt(db, SCHEMA_VERSION), false);
  } finally {
    held.close();
  }
});

Deno.test("foreign db: the hook names an SQLite failure as the full open does", async () => {
  // the hook's own open reads the database after its quick check; what SQLite says then (a file
  // swapped under it, a page gone bad) is worded as src/store/open.ts words it
  const { dbError } = await import("../src/hook/db.ts");
  const { databaseLocked, notSqliteFile } = await import("../src/domain/errors.ts");
  const path = "/etc/vgpu/vgpu_config.db";
  const line = (msg: string) => (dbError(new Error(msg), path) as Error).message;
  assert.equal(line("file is not a database"), notSqliteFile(path).message);
  assert.match(line("file is not a database"), /mistyped --db/);
  assert.equal(line("database is locked"), databaseLocked(path).message);
  assert.equal(
    line("database disk image is malformed"),
    `database ${path} is damaged (database disk image is malformed); move it aside and restore a backup or re-import an export`,
  );
  assert.equal(
    line("no such table: vms"),
    `database ${path} is damaged (no such table: vms); move it aside and restore a backup or re-import an export`,
  );
});
