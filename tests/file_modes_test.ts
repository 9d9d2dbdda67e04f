// Files that hold the host's VM inventory are 0600 whatever the umask: a database created by
// vgpu-admin, and the copy taken before a migration (a file it did not create keeps its mode). Exports never replace
// the database's own files.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { cliCommand, fileHash, runCli, runInProcess, tempDir } from "./helpers.ts";

const v1 = Deno.readTextFileSync(new URL("../sql/001_initial.sql", import.meta.url));

Deno.test("an existing empty file: a read refuses it, a write initialises it and keeps its mode", async () => {
  const db = `${tempDir()}/empty.db`;
  Deno.writeTextFileSync(db, "", { mode: 0o644 });
  Deno.chmodSync(db, 0o644);
  const read = await runInProcess(["list-pools"], { env: { VGPU_DB: db } });
  assert.equal(read.code, 1, read.stderr);
  assert.match(read.stderr, /^error: database \S+ is empty \(no vgpu-admin data yet\); a command/);
  assert.equal(Deno.statSync(db).size, 0);
  const r = await runInProcess(["settings", "xe-timeout", "30"], { env: { VGPU_DB: db } });
  assert.equal(r.code, 0, r.stderr);
  // Never a chmod of a file this run did not create (design.md §7); doctor reports the mode.
  assert.equal(Deno.statSync(db).mode! & 0o777, 0o644);
});

Deno.test("the backup taken before a migration is 0600 even under umask 000", async () => {
  const dir = tempDir();
  const db = `${dir}/old.db`;
  const old = new DatabaseSync(db);
  old.exec(v1);
  old.exec("PRAGMA user_version = 1");
  old.close();
  const r = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'umask 000; exec "$@"',
      "sh",
      ...cliCommand(),
      "list-pools",
    ],
    env: { VGPU_DB: db, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const backups = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("old.db.bak-v1-"));
  assert.equal(backups.length, 1);
  assert.equal(Deno.statSync(`${dir}/${backups[0].name}`).mode! & 0o777, 0o600);
});

Deno.test("export --output refuses the database's own files, present or not, by any spelling", async () => {
  const dir = tempDir();
  const db = `${dir}/x.db`;
  assert.equal((await runCli(["settings", "xe-timeout", "30"], { env: { VGPU_DB: db } })).code, 0);
  Deno.mkdirSync(`${dir}/sub`);
  Deno.symlinkSync(dir, `${dir}/dirlink`);
  const cases: [string, boolean, RegExp][] = [
    [db + "-wal", true, /is the database's write-ahead log; give another file\n$/],
    [db + "-shm", true, /is the database's shared-memory index; give another file\n$/],
    [db + "-journal", false, /is the database's rollback journal; give another file\n$/],
    [`${dir}/sub/../x.db-wal`, false, /is the database's write-ahead log/],
    [`${dir}/dirlink/x.db-journal`, false, /is the database's rollback journal/],
    [`${db}.locks/${"1".repeat(8)}-1111-4111-8111-111111111111`, false, /is a VM lock file/],
    [`${db}.locks`, false, /is the database's VM lock directory/],
  ];
  Deno.mkdirSync(`${db}.locks`, { mode: 0o700 });
  for (const [target, create, err] of cases) {
    if (create) Deno.writeTextFileSync(target, "", { append: true });
    const r = await runInProcess(["export", `--output=${target}`], { env: { VGPU_DB: db } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, err);
    // SQLite may remove its own -wal at close; what matters is that no export went into it.
    const left = await fileHash(target).catch(() => "absent") === "absent"
      ? ""
      : Deno.readTextFileSync(target);
    assert.ok(!left.includes("vgpu-admin-export"));
  }
});
