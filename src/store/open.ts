// Opening the SQLite store: directory and file modes, connection settings, forward migrations
// (after a backup), and the schema check. Every failure becomes one DatabaseError line.
import { backup, DatabaseSync } from "node:sqlite";
import { damagedDatabase, DatabaseError, databaseLocked, notSqliteFile } from "../domain/errors.ts";
import { describeFileError, dirname } from "../domain/file-errors.ts";
import { fileTarget, FileTargetError } from "../platform/file-target.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
import { probeDatabase } from "./probe.ts";
import { assertSchema, findSchemaProblem, schemaError } from "./schema-check.ts";

export { probeDatabase };

export const DEFAULT_DB_PATH = "/etc/vgpu/vgpu_config.db";
export const BUSY_TIMEOUT_MS = 5000;

export interface OpenedDatabase {
  db: DatabaseSync;
  path: string;
  /** Set when this open migrated an existing database: where the copy taken before it went. */
  backupPath: string | null;
  /** True when this open created the file. */
  created: boolean;
}

/** Translates a node:sqlite error (which carries only a message) into a one-line DatabaseError. */
export function sqliteError(e: unknown, path: string): DatabaseError {
  if (e instanceof DatabaseError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/database is locked|database is busy|SQLITE_BUSY/i.test(msg)) {
    return databaseLocked(path);
  }
  if (/database or disk is full|SQLITE_FULL|disk I\/O error/i.test(msg)) {
    // A full file system is the classic (a dom0 root full of logs); SQLite rolled the
    // transaction back, so nothing of this command was written.
    const cause = `database ${path}: ${msg.split("\n")[0]} (is its file system full?)`;
    return new DatabaseError(
      `${cause}; nothing was changed: free space on it (df ${
        dirname(path)
      }), then run the command again`,
      cause,
    );
  }
  if (/^file is not a database$/i.test(msg.split("\n")[0])) return notSqliteFile(path);
  if (/not a database|malformed|corrupt/i.test(msg)) return damagedDatabase(path, msg);
  if (/readonly|read-only/i.test(msg)) {
    const ro = readOnlyReason(path);
    return new DatabaseError(
      `database ${path} is read-only (${
        ro ?? msg
      }); run as root or make the file and its directory writable`,
    );
  }
  if (/unable to open/i.test(msg)) {
    return new DatabaseError(
      `cannot open database ${path}: ${msg}; check the path and its permissions, or pass --db PATH`,
    );
  }
  return new DatabaseError(`database ${path}: ${msg.split("\n")[0]}`);
}

const USE_REAL_FILE = "pass --db PATH";
// The same list as the README's "Only a command that writes creates a missing database"
// (tests/creates_db_test.ts runs each of them on a missing database).
const WRITERS =
  "a command that writes creates it (register-vm, adopt, import, set-pool-name, enable-pool, disable-pool, settings KEY VALUE, install-hook)";

/**
 * Checks what `path` is without opening it (fileTarget, for "db"): "missing", or "file" (a
 * regular file, or a symbolic link to one). Anything else is refused in one line.
 */
function targetKind(path: string): "missing" | "file" {
  try {
    return fileTarget(path, { for: "db" }).kind === "missing" ? "missing" : "file";
  } catch (e) {
    if (!(e instanceof FileTargetError)) throw e;
    const fix = {
      access: `run as root or ${USE_REAL_FILE}`,
      parent: `run as root or ${USE_REAL_FILE}`,
      link: `remove the link or ${USE_REAL_FILE}`,
      kind: USE_REAL_FILE,
    }[e.reason];
    const verb = e.reason === "access" || e.reason === "parent" || /is not a directory$/.test(e.why)
      ? "use"
      : "open";
    throw new DatabaseError(`cannot ${verb} database ${path}: ${e.why}; ${fix}`);
  }
}

/** Creates the missing database file (and its directory) 0600/0755; false when another won. */
function createFile(path: string): boolean {
  const dir = dirname(path);
  try {
    const st = Deno.statSync(dir);
    if (!st.isDirectory) {
      throw new DatabaseError(
        `cannot create database ${path}: ${dir} is not a directory; ${USE_REAL_FILE}`,
      );
    }
  } catch (e) {
    if (e instanceof DatabaseError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new DatabaseError(
        `cannot create database ${path}: ${dir}: ${
          describeFileError(e)
        }; run as root or ${USE_REAL_FILE}`,
      );
    }
    try {
      Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
      // mkdir applies the umask (root's is often 077): design.md §7 says the directory is 0755.
      Deno.chmodSync(dir, 0o755);
    } catch (e2) {
      throw new DatabaseError(
        `cannot create directory ${dir} for the database: ${
          describeFileError(e2)
        }; run as root or ${USE_REAL_FILE}`,
      );
    }
  }
  try {
    // Created 0600 before SQLite touches it: the file holds the host's VM inventory. O_EXCL
    // never follows a symbolic link planted meanwhile.
    const f = Deno.openSync(path, { createNew: true, write: true, mode: 0o600 });
    f.close();
    Deno.chmodSync(path, 0o600);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false; // another process won the race
    const ro = readOnlyReason(path);
    throw new DatabaseError(
      `cannot create database ${path}: ${
        ro ?? describeFileError(e)
      }; run as root or ${USE_REAL_FILE}`,
    );
  }
}

/**
 * Why SQLite cannot write at `path`, in words, or null: the file itself, or its directory (where
 * SQLite must create the -wal and -shm files), is read-only. Probes only; changes nothing.
 */
export function readOnlyReason(path: string): string | null {
  const dir = dirname(path);
  const roWords = (e: unknown) =>
    e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable ||
      /read-only file system|operation not permitted/i.test(e instanceof Error ? e.message : "")
      ? describeFileError(e)
      : null;
  try {
    if (Deno.statSync(path).isFile) Deno.openSync(path, { read: true, write: true }).close();
  } catch (e) {
    const w = roWords(e);
    if (w !== null) return `the file ${path} is read-only (${w})`;
  }
  let probe: string | null = null;
  try {
    probe = Deno.makeTempFileSync({ dir, prefix: ".vgpu-admin-probe-" });
  } catch (e) {
    const w = roWords(e);
    if (w !== null) {
      return `its directory ${dir} is read-only (${w})`;
    }
  } finally {
    if (probe !== null) {
      try {
        Deno.removeSync(probe);
      } catch { /* best effort */ }
    }
  }
  return null;
}

function userVersion(db: DatabaseSync): number {
  return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
}

/**
 * Creates a new empty 0600 file for a backup copy named `<base>` (or `<base>-2`, `-3`… when
 * that name is taken): O_EXCL, so two runs in the same second never pick the same name and a
 * symbolic link planted at the name is never followed. Returns the path created.
 */
export function createBackupFile(base: string): string {
  for (let n = 1;; n++) {
    const p = n === 1 ? base : `${base}-${n}`;
    try {
      Deno.openSync(p, { createNew: true, write: true, mode: 0o600 }).close();
      // Ours: created by this run, so its mode is ours to set (the umask filtered it).
      Deno.chmodSync(p, 0o600);
      return p;
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists && n < 1000) continue;
      const ro = readOnlyReason(p);
      throw new DatabaseError(
        `cannot create the backup copy ${p}: ${
          ro ?? describeFileError(e)
        }; nothing was changed: make ${dirname(p)} writable`,
      );
    }
  }
}

/** `<path>.bak-<what>-<UTC time to the second>`. */
export function backupBase(path: string, what: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${path}.bak-${what}-${stamp}`;
}

/**
 * Version 0 with a schema: another application's database whose schema reached the file after
 * the probe looked (it was being created, or lived in its -wal). Never ours to extend.
 */
function refuseForeignSchema(db: DatabaseSync, path: string): void {
  const names = (db.prepare(
    "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 6",
  ).all() as { name: string }[]).map((r) => r.name);
  if (names.length === 0) return;
  // Outside a transaction the version and the names are two reads: another vgpu-admin may have
  // committed its first migration (schema and version together) between them. Ours, then.
  if (userVersion(db) > 0) return;
  throw new DatabaseError(
    `${path} is not a vgpu-admin database (an SQLite database of another application: ${
      names.slice(0, 5).join(", ")
    }${names.length > 5 ? ", …" : ""}); nothing was changed: ${USE_REAL_FILE}`,
  );
}

/**
 * Applies the pending migrations, all in ONE immediate transaction that re-reads the version:
 * another process opening the database meanwhile sees version 0 or the final version, never
 * an intermediate one (which it would take for an older database: a needless backup and a
 * "Migrated the database schema" message on a database created a moment before).
 */
function migrate(db: DatabaseSync, path: string, now: Date): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    // again inside the write lock: its schema may have been committed since the first look
    if (userVersion(db) === 0) refuseForeignSchema(db, path);
    for (const m of MIGRATIONS) {
      // Re-read inside the write lock: a concurrent first use may have migrated already.
      if (userVersion(db) < m.version) {
        db.exec(m.sql);
        if (m.version === 1) {
          // The seeded pools take the injected clock (as every other row does), not SQLite's
          // CURRENT_TIMESTAMP; same UTC "YYYY-MM-DD HH:MM:SS" form as store.ts sqlTimestamp.
          const ts = now.toISOString().slice(0, 19).replace("T", " ");
          db.prepare("UPDATE pools SET created_at = ?, updated_at = ?").run(ts, ts);
        }
        db.exec(`PRAGMA user_version = ${m.version}`);
      }
    }
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/**
 * PRAGMA journal_mode = WAL, waiting up to the busy timeout while another connection holds the
 * write lock (another vgpu-admin creating the same new file this instant): SQLite answers busy
 * there at once, without its busy handler (the switch reads page 1, then asks for the write lock
 * from inside that read, where waiting could deadlock), so the wait is made here.
 */
// performance.now(), not Date.now(): a bounded wait must not stretch or vanish when the wall clock
// is set (NTP at 2 a.m.).
function switchToWal(db: DatabaseSync): void {
  const end = performance.now() + BUSY_TIMEOUT_MS;
  for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (
        !/database is locked|database is busy|SQLITE_BUSY/i.test(msg) || performance.now() >= end
      ) {
        throw e;
      }
    }
    Atomics.wait(SLEEP, 0, 0, wait);
  }
}

/** True when nothing at all is at `path` (not even a dangling link). */
export function isMissing(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return false;
  } catch {
    return true;
  }
}

/**
 * A fresh database in memory, as a new file would start: what `import --dry-run` plans against
 * when there is no database yet (a dry run creates nothing).
 */
export function openEmptyInMemory(now: () => Date): OpenedDatabase {
  const db = new DatabaseSync(":memory:");
  db.exec("PRAGMA foreign_keys = ON");
  migrate(db, ":memory:", now());
  return { db, path: ":memory:", backupPath: null, created: false };
}

/**
 * Throws the DatabaseError an open would give for anything at `path` that is not an existing
 * vgpu-admin database (missing, empty, special, foreign, garbled, newer); writes nothing.
 */
export function assertOurDatabase(path: string, o: { allowNewer?: boolean } = {}): void {
  if (targetKind(path) === "missing") {
    throw new DatabaseError(`no database at ${path}; ${WRITERS}, or ${USE_REAL_FILE}`);
  }
  if (probeDatabase(path, o).kind === "empty") {
    throw new DatabaseError(
      `database ${path} is empty (no vgpu-admin data yet); ${WRITERS}, or ${USE_REAL_FILE}`,
    );
  }
}

/**
 * Opens the vgpu-admin database at `path`, migrating an older schema forward after an online
 * backup, and checking tables, columns and indexes. A missing file is created only with
 * `create` (a command that writes); an existing file is probed first (probeDatabase) and opened
 * for writing only when it is ours, so a foreign, corrupt or special file is never changed.
 */
export async function openDatabase(
  path: string,
  o: { now: () => Date; create?: boolean },
): Promise<OpenedDatabase> {
  let created = false;
  if (targetKind(path) === "missing") {
    if (o.create !== true) {
      throw new DatabaseError(`no database at ${path}; ${WRITERS}, or ${USE_REAL_FILE}`);
    }
    created = createFile(path);
  }
  if (!created && probeDatabase(path).kind === "empty" && o.create !== true) {
    throw new DatabaseError(
      `database ${path} is empty (no vgpu-admin data yet); ${WRITERS}, or ${USE_REAL_FILE}`,
    );
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (e) {
    throw openError(e, path);
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec("PRAGMA foreign_keys = ON");
    const version = userVersion(db);
    if (version > SCHEMA_VERSION) {
      throw new DatabaseError(
        `database ${path} has schema version ${version}, newer than this vgpu-admin understands (${SCHEMA_VERSION}); install a newer vgpu-admin`,
      );
    }
    // Before the first write (the switch to WAL rewrites the header): a file that looked like
    // ours on page 1 but lacks our columns is refused unchanged.
    if (version === 0) refuseForeignSchema(db, path);
    if (version > 0) {
      // At the current version this is the full check (assertSchema below is then not repeated).
      const problem = findSchemaProblem(db, version === SCHEMA_VERSION ? undefined : version);
      if (problem !== null) throw schemaError(path, problem);
    }
    const mode = (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string })
      .journal_mode;
    if (mode !== "wal") switchToWal(db);
    db.exec("PRAGMA synchronous = FULL");
    let backupPath: string | null = null;
    if (version < SCHEMA_VERSION) {
      if (version > 0) {
        backupPath = createBackupFile(backupBase(path, `v${version}`, o.now()));
        await backup(db, backupPath);
      }
      // Never a chmod here: only a file this run created gets its mode set (createFile).
      migrate(db, path, o.now());
    }
    if (version !== SCHEMA_VERSION) assertSchema(db, path); // created or migrated just now
    return { db, path, backupPath, created };
  } catch (e) {
    db.close();
    throw openError(e, path);
  }
}

/** sqliteError, but a write refused by the file system names the read-only file or directory. */
function openError(e: unknown, path: string): DatabaseError {
  if (e instanceof DatabaseError) return e;
  const err = sqliteError(e, path);
  const msg = e instanceof Error ? e.message : String(e);
  if (/readonly|read-only|unable to open|disk I\/O|attempt to write/i.test(msg)) {
    const ro = readOnlyReason(path);
    if (ro !== null) {
      return new DatabaseError(
        `database ${path} is read-only (${ro}); run as root or make the file and its directory writable`,
      );
    }
  }
  return err;
}
