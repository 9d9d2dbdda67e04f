// The SQLite store (design.md §2, §7): creation, connection settings, migrations with backups,
// the seeds' constraints, vm_id allocation, history in the same transaction, undo, and the one
// clear error line for every damaged environment.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ConflictError, NotFoundError } from "../src/domain/errors.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../src/store/migrations.ts";
import { BUSY_TIMEOUT_MS, openDatabase, readOnlyReason } from "../src/store/open.ts";
import { EXPECTED_TABLES, findSchemaProblem } from "../src/store/schema-check.ts";
import { type AuditContext, Store, type VmChange } from "../src/store/store.ts";
import type { Vm } from "../src/domain/types.ts";
import {
  cliCommand,
  fileHash,
  runCli,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  UUID3,
  UUID4,
} from "./helpers.ts";

const T0 = new Date("2026-01-11T10:00:00.000Z");
const T0_SQL = "2026-01-11 10:00:00";

/** A clock tests move by hand. */
function clock(start = T0) {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance(seconds: number) {
      t += seconds * 1000;
    },
  };
}

interface Opened {
  store: Store;
  db: DatabaseSync;
  path: string;
  backupPath: string | null;
  created: boolean;
}

async function openStore(
  path: string,
  now: () => Date = () => T0,
  audit: AuditContext = { actor: "tester", command: "test" },
): Promise<Opened> {
  const o = await openDatabase(path, { now, create: true });
  return {
    store: new Store(o.db, path, audit, now),
    db: o.db,
    path,
    backupPath: o.backupPath,
    created: o.created,
  };
}

function dbPath(): string {
  return `${tempDir("vgpu-store-")}/etc/vgpu/vgpu_config.db`;
}

function pragma(db: DatabaseSync, name: string): unknown {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>;
  return Object.values(row)[0];
}

/** Every row of every table, the schema SQL and the version: what "changes nothing" compares. */
function dump(db: DatabaseSync): string {
  const tables = (db.prepare(
    `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`,
  ).all() as { name: string }[]).map((r) => r.name);
  const out: Record<string, unknown> = {
    user_version: pragma(db, "user_version"),
    master: db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name`).all(),
  };
  for (const t of tables) out[t] = db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all();
  return JSON.stringify(out);
}

// Read-write on purpose: a read-only connection cannot remove the -wal/-shm files it creates.
function dumpFile(path: string): string {
  const db = new DatabaseSync(path);
  try {
    return dump(db);
  } finally {
    db.close();
  }
}

function rows(db: DatabaseSync, sql: string, ...params: (string | number | null)[]) {
  return db.prepare(sql).all(...params).map((r) => ({ ...r }));
}

function historyCount(db: DatabaseSync): number {
  return (db.prepare(`SELECT COUNT(*) AS n FROM history`).get() as { n: number }).n;
}

function lines(s: string): string[] {
  return s.split("\n").filter((l) => l !== "");
}

function vm(uuid: string, vmId: number, over: Partial<Vm> = {}) {
  return {
    vmUuid: uuid,
    vmName: `vm-${vmId}`,
    pool: "A" as const,
    priority: 1 as const,
    vmId,
    ...over,
  };
}

// ---- creation and connection settings ------------------------------------------------------

function assertConnection(db: DatabaseSync) {
  assert.equal(pragma(db, "journal_mode"), "wal");
  assert.equal(pragma(db, "synchronous"), 2, "synchronous=FULL");
  assert.equal(pragma(db, "foreign_keys"), 1);
  assert.equal(pragma(db, "busy_timeout"), 5000);
  assert.equal(BUSY_TIMEOUT_MS, 5000);
  assert.equal(pragma(db, "user_version"), SCHEMA_VERSION);
}

Deno.test("a new database: directory 0755, file 0600, connection settings, version, pools A and B", async () => {
  const path = dbPath();
  const dir = path.slice(0, path.lastIndexOf("/"));
  const o = await openStore(path);
  try {
    assert.equal(o.created, true);
    assert.equal(o.backupPath, null, "a new database needs no backup");
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o755);
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    assertConnection(o.db);
    assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
    assert.deepEqual(
      rows(o.db, `SELECT pool_id, pool_name, description, enabled FROM pools ORDER BY pool_id`),
      [
        { pool_id: "A", pool_name: "Pool A", description: null, enabled: 1 },
        { pool_id: "B", pool_name: "Pool B", description: null, enabled: 1 },
      ],
    );
    assert.deepEqual(rows(o.db, `SELECT * FROM vms`), []);
    assert.equal(findSchemaProblem(o.db), null);
    const pools = o.store.listPools();
    assert.deepEqual(pools.map((p) => [p.poolId, p.name, p.enabled]), [
      ["A", "Pool A", true],
      ["B", "Pool B", true],
    ]);
  } finally {
    o.store.close();
  }
  // Every connection gets the settings, not only the one that created the file.
  const again = await openStore(path);
  try {
    assert.equal(again.created, false);
    assertConnection(again.db);
  } finally {
    again.store.close();
  }
});

Deno.test("the directory is 0755 and the file 0600 whatever the umask (subprocess)", async () => {
  const dir = tempDir("vgpu-umask-");
  // A command that writes creates the database (a read command never does).
  const script =
    `umask 077; "$@" --db "${dir}/strict/etc/vgpu/a.db" settings xe-timeout 30 >/dev/null || exit 9
umask 000; "$@" --db "${dir}/loose/vgpu/b.db" settings xe-timeout 30 >/dev/null || exit 9`;
  const r = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...cliCommand()],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  for (const [d, f] of [["strict/etc/vgpu", "a.db"], ["loose/vgpu", "b.db"]]) {
    assert.equal((Deno.statSync(`${dir}/${d}`).mode! & 0o777).toString(8), "755", d);
    assert.equal((Deno.statSync(`${dir}/${d}/${f}`).mode! & 0o777).toString(8), "600", f);
  }
});

Deno.test("re-opening changes nothing: same bytes, same rows, no backup, never recreated", async () => {
  const path = dbPath();
  const dir = path.slice(0, path.lastIndexOf("/"));
  const first = await openStore(path);
  first.store.insertVm(vm(UUID1, 1));
  first.store.insertVm(vm(UUID2, 7, { pool: "B", priority: 2, vmName: null }));
  first.store.close();
  const hash = await fileHash(path);
  const before = dumpFile(path);
  for (let i = 0; i < 3; i++) {
    const o = await openStore(path, () => new Date("2030-01-01T00:00:00Z"));
    assert.equal(o.created, false);
    assert.equal(o.backupPath, null);
    assert.equal(o.store.listVms().length, 2);
    o.store.close();
  }
  // Through the CLI, too (a read command opens, checks and closes the database).
  const r = await runInProcess(["list-pools"], { env: { VGPU_DB: path } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.equal(await fileHash(path), hash);
  assert.equal(dumpFile(path), before);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["vgpu_config.db"]);
});

// ---- migrations ----------------------------------------------------------------------------

/** A database as an older vgpu-admin left it: migrations 1..version, a VM row, user_version. */
function oldDatabase(path: string, version: number): void {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const db = new DatabaseSync(path);
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) db.exec(m.sql);
  db.exec(`PRAGMA user_version = ${version}`);
  db.prepare(
    `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(42, UUID1, 'legacy, "quoted"', "B", 2, "2025-06-01 08:00:00", "2025-06-02 09:00:00");
  db.exec(`UPDATE pools SET pool_name = 'Legacy A', description = 'kept' WHERE pool_id = 'A'`);
  db.close();
}

const LEGACY_ROW = {
  vm_id: 42,
  vm_uuid: UUID1,
  vm_name: 'legacy, "quoted"',
  pool_id: "B",
  priority: 2,
  created_at: "2025-06-01 08:00:00",
  updated_at: "2025-06-02 09:00:00",
};

for (let from = 1; from < SCHEMA_VERSION; from++) {
  Deno.test(`a version ${from} database is migrated forward, keeping its rows, after a backup`, async () => {
    const path = dbPath();
    oldDatabase(path, from);
    const oldBytes = await Deno.readFile(path);
    const o = await openStore(path);
    let backupPath: string;
    try {
      assert.equal(o.created, false);
      assert.equal(o.backupPath, `${path}.bak-v${from}-20260111T100000Z`);
      backupPath = o.backupPath!;
      assertConnection(o.db);
      assert.equal(findSchemaProblem(o.db), null);
      assert.deepEqual(rows(o.db, `SELECT * FROM vms`), [LEGACY_ROW]);
      assert.deepEqual(
        rows(o.db, `SELECT pool_id, pool_name, description FROM pools ORDER BY pool_id`),
        [
          { pool_id: "A", pool_name: "Legacy A", description: "kept" },
          { pool_id: "B", pool_name: "Pool B", description: null },
        ],
      );
    } finally {
      o.store.close();
    }
    // The backup is a valid SQLite database at the old version, holding the row.
    const b = new DatabaseSync(backupPath);
    try {
      assert.equal(pragma(b, "user_version"), from);
      assert.equal(pragma(b, "integrity_check"), "ok");
      assert.deepEqual(rows(b, `SELECT * FROM vms`), [LEGACY_ROW]);
      // The backup is the old schema: it lacks what the newest migration adds.
      const names = rows(b, `SELECT name FROM sqlite_master`).map((r) => r.name);
      assert.ok(!names.includes("op_journal"), "the backup is the old schema");
    } finally {
      b.close();
    }
    assert.ok(oldBytes.length > 0);
    // Opening again: nothing left to migrate, no second backup.
    const again = await openStore(path, () => new Date("2026-02-01T00:00:00Z"));
    assert.equal(again.backupPath, null);
    again.store.close();
    const dir = path.slice(0, path.lastIndexOf("/"));
    const backups = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      n.includes(".bak-")
    );
    assert.deepEqual(backups, [`vgpu_config.db.bak-v${from}-20260111T100000Z`]);
  });
}

Deno.test("the CLI says where the backup of a migrated database went, and shows its rows", async () => {
  const path = dbPath();
  oldDatabase(path, 1);
  const r = await runInProcess(["list-vms", "--format=json"], {
    env: { VGPU_DB: path },
    now: () => T0,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stderr,
    `Migrated the database schema; a copy of the previous database is at ${path}.bak-v1-20260111T100000Z\n`,
  );
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.vms.map((v: { vm_uuid: string; vm_id: number }) => [v.vm_uuid, v.vm_id]), [
    [UUID1, 42],
  ]);
  const again = await runInProcess(["list-vms"], { env: { VGPU_DB: path } });
  assert.equal(again.stderr, "", "migrated once only");
});

// ---- the seeds' columns and constraints ----------------------------------------------------

Deno.test("pools and vms have the seeds' exact columns, defaults, keys and foreign key", async () => {
  const o = await openStore(dbPath());
  try {
    const cols = (t: string) =>
      rows(o.db, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`, t);
    assert.deepEqual(cols("pools"), [
      { name: "pool_id", type: "CHAR(1)", notnull: 0, dflt_value: null, pk: 1 },
      { name: "pool_name", type: "TEXT", notnull: 1, dflt_value: null, pk: 0 },
      { name: "description", type: "TEXT", notnull: 0, dflt_value: null, pk: 0 },
      { name: "enabled", type: "INTEGER", notnull: 0, dflt_value: "1", pk: 0 },
      { name: "created_at", type: "TIMESTAMP", notnull: 0, dflt_value: "CURRENT_TIMESTAMP", pk: 0 },
      { name: "updated_at", type: "TIMESTAMP", notnull: 0, dflt_value: "CURRENT_TIMESTAMP", pk: 0 },
    ]);
    assert.deepEqual(cols("vms"), [
      { name: "vm_id", type: "INTEGER", notnull: 1, dflt_value: null, pk: 0 },
      { name: "vm_uuid", type: "TEXT", notnull: 1, dflt_value: null, pk: 0 },
      { name: "vm_name", type: "TEXT", notnull: 0, dflt_value: null, pk: 0 },
      { name: "pool_id", type: "CHAR(1)", notnull: 1, dflt_value: "'A'", pk: 0 },
      { name: "priority", type: "INTEGER", notnull: 1, dflt_value: "1", pk: 0 },
      { name: "created_at", type: "TIMESTAMP", notnull: 0, dflt_value: "CURRENT_TIMESTAMP", pk: 0 },
      { name: "updated_at", type: "TIMESTAMP", notnull: 0, dflt_value: "CURRENT_TIMESTAMP", pk: 0 },
    ]);
    assert.deepEqual(EXPECTED_TABLES.vms, cols("vms").map((c) => c.name));
    assert.deepEqual(EXPECTED_TABLES.pools, cols("pools").map((c) => c.name));
    // UNIQUE(vm_id) and UNIQUE(vm_uuid) are unique indexes SQLite made for the constraints.
    const uniques = rows(o.db, `SELECT name FROM pragma_index_list('vms') WHERE "unique" = 1`)
      .map((r) =>
        rows(o.db, `SELECT name FROM pragma_index_info(?)`, r.name as string)
          .map((c) => c.name).join(",")
      )
      .sort();
    assert.deepEqual(uniques, ["vm_id", "vm_uuid"]);
    assert.deepEqual(
      rows(o.db, `SELECT "table", "from", "to" FROM pragma_foreign_key_list('vms')`),
      [{ table: "pools", from: "pool_id", to: "pool_id" }],
    );
    // Omitted pool and priority take the seeds' defaults: A and medium (1).
    o.db.prepare(`INSERT INTO vms (vm_id, vm_uuid) VALUES (9, ?)`).run(UUID4);
    assert.deepEqual(rows(o.db, `SELECT pool_id, priority FROM vms WHERE vm_id = 9`), [
      { pool_id: "A", priority: 1 },
    ]);
  } finally {
    o.store.close();
  }
});

const REFUSED: readonly (readonly [string, string, RegExp])[] = [
  [
    "pool C",
    `INSERT INTO pools (pool_id, pool_name) VALUES ('C', 'Pool C')`,
    /CHECK constraint failed/,
  ],
  [
    "pool a (lower case)",
    `INSERT INTO pools (pool_id, pool_name) VALUES ('a', 'x')`,
    /CHECK constraint failed/,
  ],
  [
    "pool without a name",
    `INSERT INTO pools (pool_id) VALUES ('B')`,
    /NOT NULL constraint failed: pools.pool_name|UNIQUE/,
  ],
  [
    "pool A twice",
    `INSERT INTO pools (pool_id, pool_name) VALUES ('A', 'again')`,
    /UNIQUE constraint failed: pools.pool_id/,
  ],
  ["enabled 2", `UPDATE pools SET enabled = 2 WHERE pool_id = 'A'`, /CHECK constraint failed/],
  [
    "pool name NULL",
    `UPDATE pools SET pool_name = NULL WHERE pool_id = 'A'`,
    /NOT NULL constraint failed: pools.pool_name/,
  ],
  [
    "vm in pool C",
    `INSERT INTO vms (vm_id, vm_uuid, pool_id) VALUES (50, '${UUID3}', 'C')`,
    /CHECK constraint failed/,
  ],
  [
    "vm in pool NULL",
    `INSERT INTO vms (vm_id, vm_uuid, pool_id) VALUES (50, '${UUID3}', NULL)`,
    /NOT NULL constraint failed: vms.pool_id/,
  ],
  [
    "priority 3",
    `INSERT INTO vms (vm_id, vm_uuid, priority) VALUES (50, '${UUID3}', 3)`,
    /CHECK constraint failed/,
  ],
  [
    "priority -1",
    `INSERT INTO vms (vm_id, vm_uuid, priority) VALUES (50, '${UUID3}', -1)`,
    /CHECK constraint failed/,
  ],
  [
    "priority NULL",
    `INSERT INTO vms (vm_id, vm_uuid, priority) VALUES (50, '${UUID3}', NULL)`,
    /NOT NULL constraint failed: vms.priority/,
  ],
  [
    "priority 'high' as text",
    `INSERT INTO vms (vm_id, vm_uuid, priority) VALUES (50, '${UUID3}', 'high')`,
    /CHECK constraint failed/,
  ],
  [
    "NULL vm_id",
    `INSERT INTO vms (vm_id, vm_uuid) VALUES (NULL, '${UUID3}')`,
    /NOT NULL constraint failed: vms.vm_id/,
  ],
  [
    "NULL vm_uuid",
    `INSERT INTO vms (vm_id, vm_uuid) VALUES (50, NULL)`,
    /NOT NULL constraint failed: vms.vm_uuid/,
  ],
  [
    "duplicate vm_id",
    `INSERT INTO vms (vm_id, vm_uuid) VALUES (1, '${UUID3}')`,
    /UNIQUE constraint failed: vms.vm_id/,
  ],
  [
    "duplicate vm_uuid",
    `INSERT INTO vms (vm_id, vm_uuid) VALUES (50, '${UUID1}')`,
    /UNIQUE constraint failed: vms.vm_uuid/,
  ],
  [
    "moving a vm to pool C",
    `UPDATE vms SET pool_id = 'C' WHERE vm_id = 1`,
    /CHECK constraint failed/,
  ],
  [
    "priority 5 by update",
    `UPDATE vms SET priority = 5 WHERE vm_id = 1`,
    /CHECK constraint failed/,
  ],
  [
    "taking a held vm_id by update",
    `UPDATE vms SET vm_id = 2 WHERE vm_id = 1`,
    /UNIQUE constraint failed: vms.vm_id/,
  ],
  [
    "deleting pool B while a VM is in it",
    `DELETE FROM pools WHERE pool_id = 'B'`,
    /FOREIGN KEY constraint failed/,
  ],
  [
    "renaming pool B's key while a VM is in it",
    `UPDATE pools SET pool_id = 'A' WHERE pool_id = 'B'`,
    /UNIQUE constraint failed|FOREIGN KEY constraint failed/,
  ],
];

Deno.test("raw SQL that breaks the seeds' constraints is refused and changes nothing", async () => {
  const o = await openStore(dbPath());
  try {
    o.store.insertVm(vm(UUID1, 1));
    o.store.insertVm(vm(UUID2, 2, { pool: "B" }));
    const before = dump(o.db);
    for (const [name, sql, error] of REFUSED) {
      assert.throws(() => o.db.exec(sql), error, name);
      assert.equal(dump(o.db), before, `${name}: nothing changed`);
    }
  } finally {
    o.store.close();
  }
});

Deno.test("the foreign key holds: a VM cannot name a pool that has no row", async () => {
  const o = await openStore(dbPath());
  try {
    // CHECK admits only A and B, so remove pool B's row (no VM uses it yet) to reach the FK.
    o.db.exec(`DELETE FROM pools WHERE pool_id = 'B'`);
    assert.throws(
      () => o.db.exec(`INSERT INTO vms (vm_id, vm_uuid, pool_id) VALUES (1, '${UUID1}', 'B')`),
      /FOREIGN KEY constraint failed/,
    );
    assert.throws(
      () => o.store.insertVm(vm(UUID1, 1, { pool: "B" })),
      /FOREIGN KEY constraint failed/,
    );
    assert.deepEqual(rows(o.db, `SELECT * FROM vms`), []);
    assert.equal(historyCount(o.db), 0, "the failed insert left no history row");
    o.store.insertVm(vm(UUID1, 1));
    assert.throws(
      () => o.db.exec(`UPDATE vms SET pool_id = 'B' WHERE vm_id = 1`),
      /FOREIGN KEY constraint failed/,
    );
  } finally {
    o.store.close();
  }
});

// ---- indexes and the schema command --------------------------------------------------------

Deno.test("indexes idx_vm_uuid, idx_vm_pool, idx_vm_priority exist on the right columns", async () => {
  const o = await openStore(dbPath());
  try {
    for (
      const [index, column] of [
        ["idx_vm_uuid", "vm_uuid"],
        ["idx_vm_pool", "pool_id"],
        ["idx_vm_priority", "priority"],
      ]
    ) {
      assert.deepEqual(
        rows(o.db, `SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?`, index),
        [{ tbl_name: "vms" }],
        index,
      );
      assert.deepEqual(
        rows(o.db, `SELECT name FROM pragma_index_info(?)`, index).map((r) => r.name),
        [column],
        index,
      );
    }
    // The planner uses them (a lookup by uuid does not scan the table).
    const plan = rows(o.db, `EXPLAIN QUERY PLAN SELECT * FROM vms WHERE pool_id = 'A'`)
      .map((r) => r.detail).join(" ");
    assert.match(plan, /idx_vm_pool/);
  } finally {
    o.store.close();
  }
});

Deno.test("schema prints the CREATE statements, and they rebuild the same schema", async () => {
  const path = dbPath();
  await runInProcess(["settings", "xe-timeout", "30"], { env: { VGPU_DB: path } });
  const r = await runInProcess(["schema"], { env: { VGPU_DB: path } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  const [head, ...rest] = r.stdout.split("\n");
  assert.equal(
    head,
    `-- vgpu-admin schema version ${SCHEMA_VERSION}: the database vgpu-admin creates.`,
  );
  for (
    const stmt of [
      "CREATE TABLE IF NOT EXISTS pools (",
      "CREATE TABLE IF NOT EXISTS vms (",
      "CREATE TABLE IF NOT EXISTS history (",
      "CREATE TABLE IF NOT EXISTS settings (",
      "CREATE TABLE IF NOT EXISTS stale_runs (",
      "CREATE INDEX IF NOT EXISTS idx_vm_uuid ON vms(vm_uuid);",
      "CREATE INDEX IF NOT EXISTS idx_vm_pool ON vms(pool_id);",
      "CREATE INDEX IF NOT EXISTS idx_vm_priority ON vms(priority);",
      "CREATE INDEX IF NOT EXISTS idx_history_vm ON history(vm_uuid);",
      "    pool_id CHAR(1) PRIMARY KEY CHECK(pool_id IN ('A', 'B')),",
      "    priority INTEGER NOT NULL DEFAULT 1 CHECK(priority IN (0, 1, 2)),",
      "    FOREIGN KEY (pool_id) REFERENCES pools(pool_id)",
    ]
  ) {
    assert.ok(r.stdout.includes(stmt), `schema output has ${stmt}`);
  }
  // Pasted into sqlite3 (here: an empty database), it gives a schema the check accepts.
  const mem = new DatabaseSync(":memory:");
  try {
    mem.exec(rest.join("\n"));
    assert.equal(findSchemaProblem(mem), null);
    const o = await openStore(path);
    try {
      const master = (db: DatabaseSync) =>
        rows(db, `SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name`);
      assert.deepEqual(master(mem), master(o.db));
    } finally {
      o.store.close();
    }
  } finally {
    mem.close();
  }
});

// ---- timestamps ----------------------------------------------------------------------------

Deno.test("updated_at follows each change; created_at never moves", async () => {
  const c = clock();
  const o = await openStore(dbPath(), c.now);
  try {
    const pool0 = o.store.getPool("A");
    assert.equal(pool0.createdAt, T0_SQL, "the seeded pools take the injected clock");
    assert.equal(pool0.updatedAt, T0_SQL);
    o.store.insertVm(vm(UUID1, 1));
    assert.deepEqual(
      [o.store.getVm(UUID1)!.createdAt, o.store.getVm(UUID1)!.updatedAt],
      [T0_SQL, T0_SQL],
    );
    c.advance(90);
    o.store.updateVm(UUID1, { pool: "B", priority: 2, vmId: 5 });
    const v = o.store.getVm(UUID1)!;
    assert.deepEqual([v.createdAt, v.updatedAt], [T0_SQL, "2026-01-11 10:01:30"]);
    c.advance(3600);
    o.store.updatePool("A", "Production", "latency-sensitive");
    const p = o.store.getPool("A");
    assert.deepEqual([p.createdAt, p.updatedAt], [T0_SQL, "2026-01-11 11:01:30"]);
    assert.equal(o.store.getPool("B").updatedAt, T0_SQL, "only the renamed pool changes");
    c.advance(30);
    o.store.setSetting("xe-timeout", "60");
    assert.deepEqual(rows(o.db, `SELECT key, value, updated_at FROM settings`), [
      { key: "xe-timeout", value: "60", updated_at: "2026-01-11 11:02:00" },
    ]);
  } finally {
    o.store.close();
  }
});

Deno.test("set-pool-name through the CLI stamps updated_at with the injected clock", async () => {
  const path = dbPath();
  await runInProcess(["settings", "xe-timeout", "30"], { env: { VGPU_DB: path }, now: () => T0 });
  const r = await runInProcess(["set-pool-name", "--pool-id=b", "--name=Dev"], {
    env: { VGPU_DB: path },
    now: () => new Date("2026-03-04T05:06:07.890Z"),
  });
  assert.equal(r.code, 0, r.stderr);
  const show = await runInProcess(["show-pool", "--pool-id=B", "--format=json"], {
    env: { VGPU_DB: path },
  });
  const pool = JSON.parse(show.stdout).pool;
  assert.deepEqual([pool.name, pool.created_at, pool.updated_at], [
    "Dev",
    T0_SQL,
    "2026-03-04 05:06:07",
  ]);
});

// ---- vm_id allocation and conflicts --------------------------------------------------------

const LOWEST: readonly (readonly [number[], number])[] = [
  [[], 1],
  [[1], 2],
  [[1, 2, 4], 3],
  [[2, 3], 1],
  [[1, 2, 3], 4],
  [[1, 3, 5], 2],
  [[5, 4, 3, 2, 1, 7], 6],
  [[2147483647], 1],
  [[1, 2147483647], 2],
];

for (const [held, next] of LOWEST) {
  Deno.test(`lowest unused vm_id with {${held.join(",")}} is ${next}`, async () => {
    const o = await openStore(dbPath());
    try {
      held.forEach((id, i) => o.store.insertVm(vm(crypto.randomUUID(), id, { vmName: `h${i}` })));
      assert.equal(o.store.lowestFreeVmId(), next);
      const change = o.store.insertVm({ vmUuid: UUID4, vmName: null, pool: "B", priority: 0 });
      assert.equal(change.after!.vmId, next);
      assert.equal(o.store.lowestFreeVmId() === next, false);
    } finally {
      o.store.close();
    }
  });
}

Deno.test("register-vm without --vm-id takes the lowest unused id (CLI)", async () => {
  const path = dbPath();
  const env = { VGPU_DB: path };
  for (const [uuid, id] of [[UUID1, "1"], [UUID2, "2"], [UUID3, "4"]]) {
    const r = await runInProcess(
      ["register-vm", `--vm-uuid=${uuid}`, `--vm-id=${id}`, "--offline"],
      {
        env,
      },
    );
    assert.equal(r.code, 0, r.stderr);
  }
  const r = await runInProcess(["register-vm", `--vm-uuid=${UUID4}`, "--offline", "--vm-name=x"], {
    env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    lines(r.stdout)[0],
    `Registered VM ${UUID4} (x): vGPU pool A, priority medium, VM ID 3`,
  );
});

Deno.test("a taken vm_id names its holder exactly, in the store and on the command line", async () => {
  const path = dbPath();
  const o = await openStore(path);
  try {
    o.store.insertVm(vm(UUID1, 100, { vmName: "web-1" }));
    o.store.insertVm(vm(UUID2, 7));
    const want = `VM ID 100 already in use by VM ${UUID1} (web-1)`;
    assert.throws(() => o.store.insertVm(vm(UUID3, 100)), (e) => {
      assert.ok(e instanceof ConflictError);
      assert.equal(e.message, want);
      return true;
    });
    assert.throws(
      () => o.store.updateVm(UUID2, { pool: "A", priority: 1, vmId: 100 }),
      (e) => e instanceof ConflictError && e.message === want,
    );
    assert.throws(() => o.store.assertCanInsert(UUID3, 100), (e) => (e as Error).message === want);
    // Keeping one's own id is no conflict.
    o.store.updateVm(UUID1, { pool: "B", priority: 2, vmId: 100 });
    assert.equal(o.store.getVm(UUID1)!.pool, "B");
  } finally {
    o.store.close();
  }
  const hash = await fileHash(path);
  const r = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID3}`, "--vm-id=100", "--offline"],
    { env: { VGPU_DB: path } },
  );
  assert.deepEqual([r.code, r.stdout, r.stderr], [
    1,
    "",
    `error: VM ID 100 already in use by VM ${UUID1} (web-1); pass --vm-id=1 (the next free vm_id) to choose another\n`,
  ]);
  assert.equal(await fileHash(path), hash);
});

Deno.test("a holder without a name is still named by its uuid", async () => {
  const o = await openStore(dbPath());
  try {
    o.store.insertVm(vm(UUID1, 3, { vmName: null }));
    assert.throws(
      () => o.store.insertVm(vm(UUID2, 3)),
      new RegExp(`^ConflictError: VM ID 3 already in use by VM ${UUID1} \\(<?no name>?\\)$`),
    );
  } finally {
    o.store.close();
  }
});

Deno.test("concurrent registrations without --vm-id get distinct lowest ids (subprocesses)", async () => {
  const path = dbPath();
  await runInProcess(["list-pools"], { env: { VGPU_DB: path } });
  const uuids = [UUID1, UUID2, UUID3, UUID4];
  const results = await Promise.all(
    uuids.map((u) =>
      runCli(["register-vm", `--vm-uuid=${u}`, "--offline"], { env: { VGPU_DB: path } })
    ),
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const o = await openStore(path);
  try {
    assert.deepEqual(o.store.listVms().map((v) => v.vmId).sort(), [1, 2, 3, 4]);
    assert.equal(historyCount(o.db), 4);
  } finally {
    o.store.close();
  }
});

// ---- history: same transaction, undo, actor ------------------------------------------------

interface HistoryCase {
  name: string;
  /** Runs the change on a store holding UUID1 (vm_id 1, pool A, "vm-1"). */
  change(s: Store): unknown;
  expect: {
    vm_uuid: string | null;
    pool_id: string | null;
    before: unknown;
    after: unknown;
  };
}

const SNAP1 = { vm_uuid: UUID1, vm_name: "vm-1", pool_id: "A", priority: 1, vm_id: 1 };

const HISTORY_CASES: readonly HistoryCase[] = [
  {
    name: "register (insertVm)",
    change: (s) => s.insertVm(vm(UUID2, 2, { pool: "B", priority: 2, vmName: "two" })),
    expect: {
      vm_uuid: UUID2,
      pool_id: null,
      before: null,
      after: { vm_uuid: UUID2, vm_name: "two", pool_id: "B", priority: 2, vm_id: 2 },
    },
  },
  {
    name: "update (updateVm)",
    change: (s) => s.updateVm(UUID1, { pool: "B", priority: 0, vmId: 9 }),
    expect: {
      vm_uuid: UUID1,
      pool_id: null,
      before: SNAP1,
      after: { ...SNAP1, pool_id: "B", priority: 0, vm_id: 9 },
    },
  },
  {
    name: "delete (deleteVm)",
    change: (s) => s.deleteVm(UUID1),
    expect: { vm_uuid: UUID1, pool_id: null, before: SNAP1, after: null },
  },
  {
    name: "set-pool-name (updatePool)",
    change: (s) => s.updatePool("B", "Dev", "for testing"),
    expect: {
      vm_uuid: null,
      pool_id: "B",
      before: { pool_name: "Pool B", description: null },
      after: { pool_name: "Dev", description: "for testing" },
    },
  },
  {
    name: "settings (setSetting)",
    change: (s) => s.setSetting("hook-strict", "on"),
    expect: { vm_uuid: null, pool_id: null, before: null, after: { "hook-strict": "on" } },
  },
];

async function storeWithOneVm(now: () => Date = () => T0) {
  const o = await openStore(dbPath(), now, { actor: "alice", command: "the-command" });
  o.store.insertVm(vm(UUID1, 1));
  return o;
}

for (const c of HISTORY_CASES) {
  Deno.test(`history: ${c.name} writes one row with what changed`, async () => {
    const at = new Date("2026-05-06T07:08:09.123Z");
    const o = await storeWithOneVm(() => at);
    try {
      const before = historyCount(o.db);
      c.change(o.store);
      assert.equal(historyCount(o.db), before + 1);
      const [h] = o.store.listHistory({ limit: 1 });
      assert.deepEqual(
        {
          at: h.at,
          actor: h.actor,
          command: h.command,
          vm_uuid: h.vmUuid,
          pool_id: h.poolId,
          before: h.before,
          after: h.after,
        },
        { at: "2026-05-06T07:08:09.123Z", actor: "alice", command: "the-command", ...c.expect },
      );
    } finally {
      o.store.close();
    }
  });

  Deno.test(`history: ${c.name} is in the same transaction as its history row`, async () => {
    const o = await storeWithOneVm();
    try {
      const before = dump(o.db);
      // A history row that cannot be written must take the change down with it.
      o.db.exec(
        `CREATE TEMP TRIGGER refuse_history BEFORE INSERT ON history
         BEGIN SELECT RAISE(ABORT, 'history refused'); END`,
      );
      assert.throws(() => c.change(o.store), /history refused/);
      assert.equal(dump(o.db), before, "nothing changed");
      assert.equal(o.db.isTransaction, false, "no transaction left open");
      o.db.exec(`DROP TRIGGER refuse_history`);
      c.change(o.store);
      assert.notEqual(dump(o.db), before, "the same change works once history can be written");
    } finally {
      o.store.close();
    }
  });
}

Deno.test("a refused change writes no history row", async () => {
  const o = await storeWithOneVm();
  try {
    const before = dump(o.db);
    assert.throws(() => o.store.insertVm(vm(UUID1, 5)), ConflictError);
    assert.throws(() => o.store.insertVm(vm(UUID2, 1)), ConflictError);
    assert.throws(
      () => o.store.updateVm(UUID2, { pool: "A", priority: 1, vmId: 2 }),
      NotFoundError,
    );
    assert.throws(() => o.store.deleteVm(UUID2), NotFoundError);
    assert.equal(dump(o.db), before);
  } finally {
    o.store.close();
  }
});

const UNDO_CASES: readonly (readonly [string, (s: Store) => VmChange])[] = [
  ["insert", (s) => s.insertVm(vm(UUID2, 2, { vmName: null, pool: "B" }))],
  ["update", (s) => s.updateVm(UUID1, { pool: "B", priority: 2, vmId: 40 }, "renamed")],
  ["delete", (s) => s.deleteVm(UUID1)],
];

for (const [name, change] of UNDO_CASES) {
  Deno.test(`undoChange restores an ${name} exactly and removes its history row`, async () => {
    const c = clock();
    const o = await storeWithOneVm(c.now);
    try {
      const before = dump(o.db);
      c.advance(600);
      const ch = change(o.store);
      assert.notEqual(dump(o.db), before);
      assert.ok(rows(o.db, `SELECT id FROM history WHERE id = ?`, ch.historyId).length === 1);
      c.advance(600);
      assert.equal(o.store.undoChange(ch), true);
      // Row, timestamps and history as they were (sqlite_sequence keeps its high-water mark).
      const strip = (d: string) => {
        const j = JSON.parse(d);
        delete j.sqlite_sequence;
        return JSON.stringify(j);
      };
      assert.equal(strip(dump(o.db)), strip(before));
    } finally {
      o.store.close();
    }
  });
}

Deno.test("undoChange refuses, changing nothing, when the row changed since", async () => {
  const o = await storeWithOneVm();
  try {
    const ch = o.store.updateVm(UUID1, { pool: "B", priority: 2, vmId: 40 });
    o.store.updateVm(UUID1, { pool: "A", priority: 0, vmId: 41 });
    const before = dump(o.db);
    assert.equal(o.store.undoChange(ch), false);
    assert.equal(dump(o.db), before);
  } finally {
    o.store.close();
  }
});

const ACTORS: readonly (readonly [Record<string, string>, string])[] = [
  [{ SUDO_USER: "alice", USER: "root" }, "alice"],
  [{ USER: "bob" }, "bob"],
  [{ SUDO_USER: "", USER: "carol" }, "carol"],
  // Neither: the user name of the process's uid (issue 13), as id(1) gives it.
  [
    {},
    new TextDecoder().decode(new Deno.Command("id", { args: ["-un"] }).outputSync().stdout).trim(),
  ],
];

Deno.test("each CLI change records its command and the actor (SUDO_USER, else USER, else the uid's name)", async () => {
  const path = dbPath();
  const steps: readonly (readonly [string[], Record<string, string>, string])[] = [
    [["register-vm", `--vm-uuid=${UUID1}`, "--offline"], ACTORS[0][0], ACTORS[0][1]],
    [["set-pool-name", "--pool-id=A", "--name=Prod"], ACTORS[1][0], ACTORS[1][1]],
    [["settings", "xe-timeout", "45"], ACTORS[2][0], ACTORS[2][1]],
    [["remove-vm", `--vm-uuid=${UUID1}`, "--offline", "--yes"], ACTORS[3][0], ACTORS[3][1]],
  ];
  for (const [argv, env] of steps) {
    const r = await runInProcess(argv, { env: { VGPU_DB: path, ...env } });
    assert.equal(r.code, 0, `${argv[0]}: ${r.stderr}`);
  }
  const r = await runInProcess(["history", "--format=json"], { env: { VGPU_DB: path } });
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout).history.map((h: Record<string, unknown>) => [
    h.command,
    h.actor,
    h.vm_uuid,
    h.pool_id,
  ]);
  assert.deepEqual(got, [
    ["remove-vm", ACTORS[3][1], UUID1, null],
    ["settings", "carol", null, null],
    ["set-pool-name", "bob", null, "A"],
    ["register-vm", "alice", UUID1, null],
  ]);
  // Read commands and refused commands write no history.
  await runInProcess(["list-vms"], { env: { VGPU_DB: path } });
  await runInProcess(["remove-vm", `--vm-uuid=${UUID1}`, "--offline", "--yes"], {
    env: { VGPU_DB: path },
  });
  const after = await runInProcess(["history", "--format=json"], { env: { VGPU_DB: path } });
  assert.equal(JSON.parse(after.stdout).history.length, 4);
});

// ---- damaged environments ------------------------------------------------------------------

interface Damage {
  name: string;
  /** Prepares the environment in `dir`; returns the database path to use. */
  setup(dir: string): Promise<string> | string;
  error: RegExp;
}

async function validDb(dir: string): Promise<string> {
  const path = `${dir}/vgpu_config.db`;
  const o = await openStore(path);
  o.store.insertVm(vm(UUID1, 1));
  o.store.close();
  return path;
}

function rawExec(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

const DAMAGES: readonly Damage[] = [
  {
    name: "a file of garbage bytes",
    setup(dir) {
      const path = `${dir}/vgpu_config.db`;
      Deno.writeTextFileSync(path, "this is not an SQLite database\n".repeat(300));
      return path;
    },
    error:
      /^error: database \S+ is not an SQLite file \(file is not a database\); if it is not vgpu-admin's database \(a mistyped --db\), pass the right --db PATH, otherwise move it aside and restore a backup/,
  },
  {
    name: "a database cut short",
    async setup(dir) {
      const path = await validDb(dir);
      const bytes = Deno.readFileSync(path);
      Deno.writeFileSync(path, bytes.subarray(0, 1500));
      return path;
    },
    error: /^error: database \S+ (is damaged|has a damaged schema)/,
  },
  {
    name: "a newer schema version (99)",
    async setup(dir) {
      const path = await validDb(dir);
      rawExec(path, "PRAGMA user_version = 99");
      return path;
    },
    error: new RegExp(
      `^error: database \\S+ has schema version 99, newer than this vgpu-admin understands \\(${SCHEMA_VERSION}\\); install a newer vgpu-admin$`,
    ),
  },
  {
    name: "table vms without vm_name",
    async setup(dir) {
      const path = await validDb(dir);
      rawExec(
        path,
        `PRAGMA foreign_keys = OFF;
         DROP TABLE vms;
         CREATE TABLE vms (vm_id INTEGER NOT NULL UNIQUE, vm_uuid TEXT UNIQUE NOT NULL,
           pool_id CHAR(1) NOT NULL, priority INTEGER NOT NULL, created_at TIMESTAMP,
           updated_at TIMESTAMP);
         CREATE INDEX idx_vm_uuid ON vms(vm_uuid);
         CREATE INDEX idx_vm_pool ON vms(pool_id);
         CREATE INDEX idx_vm_priority ON vms(priority);`,
      );
      return path;
    },
    error:
      /^error: database \S+ has a damaged schema \(table vms lacks column vm_name\); restore it from a backup/,
  },
  {
    name: "a missing index",
    async setup(dir) {
      const path = await validDb(dir);
      rawExec(path, "DROP INDEX idx_vm_pool");
      return path;
    },
    error: /^error: database \S+ has a damaged schema \(index idx_vm_pool is missing\)/,
  },
  {
    name: "a missing table",
    async setup(dir) {
      const path = await validDb(dir);
      rawExec(path, "DROP TABLE history");
      return path;
    },
    error: /^error: database \S+ has a damaged schema \(table history is missing\)/,
  },
  {
    name: "the database's directory is a file",
    setup(dir) {
      Deno.writeTextFileSync(`${dir}/etc`, "a file");
      return `${dir}/etc/vgpu_config.db`;
    },
    error: /^error: cannot use database \S+: \S+\/etc is not a directory; pass --db PATH$/,
  },
  {
    name: "the directory cannot be created (a parent is a file)",
    setup(dir) {
      Deno.writeTextFileSync(`${dir}/etc`, "a file");
      return `${dir}/etc/vgpu/vgpu_config.db`;
    },
    error:
      /^error: (cannot use database \S+: \S+: a part of the path is not a directory|cannot create directory \S+ for the database: .*); run as root or pass --db PATH$/,
  },
  {
    name: "the database path is a directory",
    setup(dir) {
      Deno.mkdirSync(`${dir}/vgpu_config.db`);
      Deno.writeTextFileSync(`${dir}/vgpu_config.db/keep`, "x");
      return `${dir}/vgpu_config.db`;
    },
    error: /^error: cannot open database \S+: it is a directory; pass --db PATH$/,
  },
];

/** Every path under `dir` with its content hash: proves nothing was created, moved or changed. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of [...Deno.readDirSync(d)].sort((a, b) => a.name.localeCompare(b.name))) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) {
        out.push(`${p}/`);
        await walk(p);
      } else out.push(`${p} ${await fileHash(p)}`);
    }
  };
  await walk(dir);
  return out;
}

const DAMAGE_COMMANDS: readonly string[][] = [
  ["list-pools"],
  ["status", "--offline"],
  ["register-vm", `--vm-uuid=${UUID2}`, "--offline"],
];

for (const d of DAMAGES) {
  Deno.test(`damaged environment: ${d.name} gives one error line, exit 1, and changes nothing`, async () => {
    const dir = tempDir("vgpu-damage-");
    const path = await d.setup(dir);
    const before = await snapshot(dir);
    for (const argv of DAMAGE_COMMANDS) {
      const r = await runInProcess(argv, { env: { VGPU_DB: path } });
      assert.equal(r.code, 1, `${argv[0]}: ${r.stderr}`);
      assert.equal(r.stdout, "", argv[0]);
      assert.equal(lines(r.stderr).length, 1, `one line: ${r.stderr}`);
      assert.ok(r.stderr.endsWith("\n"));
      assert.match(r.stderr.trimEnd(), d.error, argv[0]);
      assert.ok(!r.stderr.startsWith("bug:"), r.stderr);
      assert.deepEqual(await snapshot(dir), before, `${argv[0]} changed nothing`);
    }
  });
}

Deno.test("damaged environment through the real binary: corrupt file and newer version", async () => {
  const dir = tempDir("vgpu-damage-");
  const corrupt = DAMAGES[0].setup(`${dir}`) as string;
  const newerDir = `${dir}/newer`;
  Deno.mkdirSync(newerDir);
  const newer = await DAMAGES[2].setup(newerDir);
  const [a, b] = await Promise.all([
    runCli(["list-vms"], { env: { VGPU_DB: corrupt } }),
    runCli(["--db", newer, "status", "--offline"]),
  ]);
  assert.deepEqual([a.code, a.stdout], [1, ""]);
  assert.match(
    a.stderr,
    /^error: database \S+ is not an SQLite file \(file is not a database\)[^\n]*\n$/,
  );
  assert.deepEqual([b.code, b.stdout], [1, ""]);
  assert.match(b.stderr, /^error: database \S+ has schema version 99, newer[^\n]*\n$/);
});

Deno.test("a damaged op_journal row is one 'database damaged' line naming row and field", async () => {
  const o = await openStore(dbPath());
  const id = o.store.openJournal({
    vmUuid: UUID1,
    command: "set-pool",
    pid: 1,
    original: { row: { pool: "A", priority: 1, vmId: 1 }, args: null, power: "running" },
    target: { row: { pool: "B", priority: 1, vmId: 1 }, args: "-device vgpu-stub,x" },
  });
  assert.equal(o.store.openJournalEntries()[0].step, "planned");
  o.db.prepare(`UPDATE op_journal SET step = 'half-way' WHERE id = ?`).run(id);
  assert.throws(
    () => o.store.openJournalEntries(),
    /^DamagedRowError: database damaged: op_journal row 1: step is the text 'half-way', not a step of the journal; run 'vgpu-admin doctor'$/,
  );
  o.db.prepare(`UPDATE op_journal SET step = 'planned', target_json = '{"row":{"pool":"C"}}'`)
    .run();
  assert.throws(() => o.store.openJournalEntries(), /op_journal row 1: its saved configuration/);
  o.store.close();
});

Deno.test("errors are told apart by class: only SQLite's own failures become database errors", async () => {
  const o = await openStore(dbPath());
  class Mine extends Error {}
  assert.throws(() =>
    o.store.transaction(() => {
      throw new Mine("x");
    }), Mine);
  // a plain Error that SQLite did not raise is a bug, never dressed up as a database problem
  assert.throws(() =>
    o.store.transaction(() => {
      throw new Error("plain");
    }), /^Error: plain$/);
  assert.throws(
    () => o.store.transaction(() => o.db.exec("INSERT INTO nowhere VALUES (1)")),
    (e: Error) => e.name === "DatabaseError" && /no such table: nowhere/.test(e.message),
  );
  o.store.close();
});

Deno.test("the read-only check leaves nothing in the database's directory", () => {
  const dir = tempDir();
  const path = `${dir}/vgpu_config.db`;
  Deno.writeTextFileSync(path, "");
  assert.equal(readOnlyReason(path), null, "a writable file in a writable directory");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["vgpu_config.db"]);
});
