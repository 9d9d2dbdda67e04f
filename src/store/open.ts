// Opening the SQLite store: directory and file modes, connection settings, forward migrations
// (after a backup), and the schema check. Every failure becomes one DatabaseError line.
import { backup, DatabaseSync } from "node:sqlite";
import { DatabaseError } from "../domain/errors.ts";
import { describeFileError, dirname } from "../domain/file-errors.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
import { assertSchema } from "./schema-check.ts";

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
    return new DatabaseError(
      `database ${path} is busy: another vgpu-admin kept it locked for more than ${
        BUSY_TIMEOUT_MS / 1000
      } s; try again`,
    );
  }
  if (/not a database|malformed|corrupt/i.test(msg)) {
    return new DatabaseError(
      `database ${path} is damaged (${msg}); move it aside and restore a backup or re-import an export`,
    );
  }
  if (/readonly|read-only/i.test(msg)) {
    return new DatabaseError(
      `database ${path} is read-only (${msg}); run as root or make the file and its directory writable`,
    );
  }
  if (/unable to open/i.test(msg)) {
    return new DatabaseError(
      `cannot open database ${path}: ${msg}; check the path and its permissions, or pass --db PATH`,
    );
  }
  return new DatabaseError(`database ${path}: ${msg.split("\n")[0]}`);
}

function ensureFile(path: string): boolean {
  const dir = dirname(path);
  try {
    const st = Deno.statSync(dir);
    if (!st.isDirectory) {
      throw new DatabaseError(
        `cannot use database ${path}: ${dir} is not a directory; pass --db PATH`,
      );
    }
  } catch (e) {
    if (e instanceof DatabaseError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new DatabaseError(
        `cannot use database ${path}: ${dir}: ${
          describeFileError(e)
        }; run as root or pass --db PATH`,
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
        }; run as root or pass --db PATH`,
      );
    }
  }
  try {
    const st = Deno.statSync(path);
    if (st.isDirectory) {
      throw new DatabaseError(`cannot open database ${path}: it is a directory; pass --db PATH`);
    }
    return false;
  } catch (e) {
    if (e instanceof DatabaseError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new DatabaseError(
        `cannot open database ${path}: ${describeFileError(e)}; run as root or pass --db PATH`,
      );
    }
  }
  try {
    // Created 0600 before SQLite touches it: the file holds the host's VM inventory.
    const f = Deno.openSync(path, { createNew: true, write: true, mode: 0o600 });
    f.close();
    Deno.chmodSync(path, 0o600);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false; // another process won the race
    throw new DatabaseError(
      `cannot create database ${path}: ${describeFileError(e)}; run as root or pass --db PATH`,
    );
  }
}

function userVersion(db: DatabaseSync): number {
  return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
}

function backupName(path: string, from: number, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${path}.bak-v${from}-${stamp}`;
}

/**
 * Applies the pending migrations, all in ONE immediate transaction that re-reads the version:
 * another process opening the database meanwhile sees version 0 or the final version, never
 * an intermediate one (which it would take for an older database: a needless backup and a
 * "Migrated the database schema" message on a database created a moment before).
 */
function migrate(db: DatabaseSync, now: Date): void {
  db.exec("BEGIN IMMEDIATE");
  try {
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

/**
 * Opens (creating and initialising when missing) the database at `path`, migrating an older
 * schema forward after an online backup, and checking tables, columns and indexes.
 */
export async function openDatabase(
  path: string,
  o: { now: () => Date },
): Promise<OpenedDatabase> {
  const created = ensureFile(path);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (e) {
    throw sqliteError(e, path);
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
    const mode = (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string })
      .journal_mode;
    if (mode !== "wal") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    let backupPath: string | null = null;
    if (version < SCHEMA_VERSION) {
      if (version > 0) {
        backupPath = backupName(path, version, o.now());
        // Created 0600 first: the copy holds the same VM inventory as the database.
        Deno.openSync(backupPath, { createNew: true, write: true, mode: 0o600 }).close();
        await backup(db, backupPath);
        Deno.chmodSync(backupPath, 0o600);
      } else {
        // An existing empty file being initialised gets the database's mode too (best effort:
        // a file we may not chmod still works, and doctor reports its mode).
        try {
          Deno.chmodSync(path, 0o600);
        } catch { /* reported by doctor */ }
      }
      migrate(db, o.now());
    }
    assertSchema(db, path);
    return { db, path, backupPath, created };
  } catch (e) {
    db.close();
    throw sqliteError(e, path);
  }
}
