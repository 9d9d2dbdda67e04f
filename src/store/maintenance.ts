// What doctor, backups and `schema` need of the database as a whole: the schema's text, an
// online copy, a read-only open that changes nothing, SQLite's integrity check, and every row
// the program could not use.
import type { DatabaseSync } from "node:sqlite";
import { DatabaseError } from "../domain/errors.ts";
import { VM_ID_MAX } from "../domain/types.ts";
import { sqliteError } from "./open.ts";
import {
  DamagedRowError,
  decodeHistory,
  decodePool,
  decodeSetting,
  decodeStaleRun,
  decodeVm,
} from "./rows.ts";
import { type Row, type Sql, VM_COLUMNS } from "./sql.ts";

/** The SQL of every table and index, as SQLite keeps it, in creation order. */
export function schemaSql(sql: Sql): string[] {
  return sql.all<{ sql: string }>(
    `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
     ORDER BY rowid`,
  ).map((r) => r.sql);
}

/**
 * An online copy of the whole database (node:sqlite backup) in a new 0600 file named `base`,
 * or `base-2`, `base-3`… when that name exists (created O_EXCL: parallel runs never collide,
 * a planted symbolic link is never followed). Returns the path written.
 */
export async function backupTo(sql: Sql, base: string): Promise<string> {
  const [{ backup }, { createBackupFile }] = await Promise.all([
    import("node:sqlite"),
    import("./open.ts"),
  ]);
  const path = createBackupFile(base);
  try {
    await backup(sql.db, path);
    return path;
  } catch (e) {
    try {
      Deno.removeSync(path);
    } catch { /* best effort: an empty file left behind says nothing wrong */ }
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new DatabaseError(
      `cannot back up database ${sql.path} to ${path}: ${msg}; nothing was changed`,
    );
  }
}

/**
 * Opens an existing database read-only and exactly as it is, for `doctor`: never creates,
 * migrates or rejects it (doctor reports version and schema itself). Throws DatabaseError.
 */
export async function openForInspection(path: string): Promise<DatabaseSync> {
  const [{ DatabaseSync }, { BUSY_TIMEOUT_MS, assertOurDatabase }] = await Promise.all([
    import("node:sqlite"),
    import("./open.ts"),
  ]);
  // The same refusals as every open: a device, FIFO, directory, foreign or garbled file is
  // reported, never opened (a read-only SQLite open still creates -wal/-shm beside it).
  assertOurDatabase(path, { allowNewer: true }); // doctor reports the version itself
  let db: DatabaseSync;
  try {
    // Not readOnly: a read-only connection never removes the -wal and -shm it creates, so
    // doctor would leave them beside the database. query_only refuses every write instead,
    // and the last connection to close removes them (issue 18 C15).
    db = new DatabaseSync(path);
  } catch (e) {
    throw sqliteError(e, path);
  }
  try {
    db.exec("PRAGMA query_only = ON");
    // as on the read-only connection before: rows that break a CHECK are listed one by one
    // by damagedRows, not as integrity_check's one line per table
    db.exec("PRAGMA ignore_check_constraints = ON");
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // integrity_check reads every page: SQLite's default 2 MB page cache would keep 2 MB of them
    // for the rest of the run (issue 19, doctor's peak RSS); 256 KiB serves doctor's reads.
    db.exec("PRAGMA cache_size = -256");
    // Reading the schema proves the file is a database (the header alone is not checked on open).
    db.prepare("SELECT count(*) FROM sqlite_master").get();
  } catch (e) {
    db.close();
    throw sqliteError(e, path);
  }
  return db;
}

/** `PRAGMA integrity_check`: [] when SQLite finds the file intact, else its problem lines. */
export function integrityCheck(sql: Sql): string[] {
  const lines = sql.all<{ integrity_check: string }>("PRAGMA integrity_check")
    .map((r) => r.integrity_check);
  return lines.length === 1 && lines[0] === "ok" ? [] : lines;
}

/**
 * Every row the program could not use (decoded as every reader decodes it): for `doctor`,
 * which lists them all where a reader stops at the first.
 */
export function damagedRows(sql: Sql): DamagedRowError[] {
  const found: DamagedRowError[] = [];
  const check = (r: Row, decode: (r: Row) => unknown) => {
    try {
      decode(r);
    } catch (e) {
      if (!(e instanceof DamagedRowError)) throw e;
      found.push(e);
    }
  };
  const scan = (query: string, decode: (r: Row) => unknown) => {
    for (const r of sql.all<Row>(query)) check(r, decode);
  };
  // The two tables that grow with the host are read PAGE rows at a time, in one read
  // transaction (one snapshot, as one SELECT), and only their rows SQLite cannot vouch for
  // (SOUND_VMS, SOUND_HISTORY): each of those is decoded as a reader decodes it. 10,000 sound
  // rows are never made objects (nor their history JSON parsed) to be thrown away: that took
  // doctor's heap +2.5 MB before it read the host (issue 19, peak RSS).
  const paged = (table: string, columns: string, sound: string, decode: (r: Row) => unknown) => {
    const page = `SELECT ${columns}, rowid AS _page FROM ${table}
      WHERE rowid > ? AND NOT coalesce(${sound}, 0) ORDER BY rowid LIMIT ${PAGE}`;
    let after: number | bigint = -(2n ** 63n); // rowids may be negative (a row added by hand)
    for (;;) {
      const rows = sql.all<Row>(page, after);
      for (const r of rows) check(r, decode);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]._page as number;
    }
  };
  sql.read(() => {
    scan(`SELECT * FROM pools ORDER BY pool_id`, decodePool);
    paged("vms", VM_COLUMNS, SOUND_VMS, decodeVm);
    scan(`SELECT key, value FROM settings ORDER BY key`, decodeSetting);
    scan(`SELECT vm_uuid, since, reason FROM stale_runs ORDER BY vm_uuid`, decodeStaleRun);
    paged("history", "*", SOUND_HISTORY, decodeHistory);
  });
  return found;
}

/** A lower-case uuid as isUuid takes it, for GLOB (case-sensitive, the whole value). */
const UUID_GLOB = [8, 4, 4, 4, 12].map((n) => "[0-9a-f]".repeat(n)).join("-");

/**
 * A vms row decodeVm surely accepts, in SQL: stricter than decodeVm where SQL cannot say it as
 * simply (a name of printable ASCII only; a real-valued priority), never looser. A row it does
 * not vouch for (NULL, where a comparison cannot tell, included) is decoded, which alone decides.
 */
const SOUND_VMS = `typeof(vm_id) = 'integer' AND vm_id BETWEEN 1 AND ${VM_ID_MAX}
  AND typeof(vm_uuid) = 'text' AND vm_uuid GLOB '${UUID_GLOB}'
  AND (vm_name IS NULL OR (typeof(vm_name) = 'text' AND vm_name NOT GLOB '*[^ -~]*'))
  AND typeof(pool_id) = 'text' AND pool_id IN ('A', 'B')
  AND typeof(priority) = 'integer' AND priority IN (0, 1, 2)
  AND typeof(created_at) = 'text' AND typeof(updated_at) = 'text'`;

/**
 * A JSON column decodeHistory accepts: NULL, or RFC 8259 text (json_valid flag 1) of an object
 * (json_type only on valid text: it fails on any other).
 */
const soundJson = (c: string) =>
  `(${c} IS NULL OR (typeof(${c}) = 'text' AND CASE WHEN json_valid(${c}, 1) THEN json_type(${c}) = 'object' ELSE 0 END))`;

/** A history row decodeHistory surely accepts, in SQL (as SOUND_VMS: never looser). */
const SOUND_HISTORY = `typeof(id) = 'integer' AND id BETWEEN 1 AND ${Number.MAX_SAFE_INTEGER}
  AND typeof(at) = 'text' AND typeof(actor) = 'text' AND typeof(command) = 'text'
  AND (vm_uuid IS NULL OR typeof(vm_uuid) = 'text')
  AND (pool_id IS NULL OR (typeof(pool_id) = 'text' AND pool_id IN ('A', 'B')))
  AND ${soundJson("before_json")} AND ${soundJson("after_json")}`;

/** Rows per page of damagedRows. */
const PAGE = 256;

/** The first difference from the tables, columns and indexes the code expects, or null. */
export async function schemaProblem(sql: Sql): Promise<string | null> {
  const { findSchemaProblem } = await import("./schema-check.ts");
  try {
    return findSchemaProblem(sql.db);
  } catch (e) {
    throw sqliteError(e, sql.path);
  }
}
