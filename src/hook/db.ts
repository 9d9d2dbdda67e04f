// The hooks' database connection: the lighter open of the start path (issue 19). A regular file
// at the current schema version is opened as it is, with no migration or SQL schema check: the
// hook reads one VM row and the settings, and writes only what its plan says (a stale-run row).
// With a -wal beside it (a live WAL database), its bytes must first say it is ours (page 1, or
// the newest committed one in the -wal: src/store/page1.ts), so that another application's live
// database whose user_version happens to be ours never gets a read mark in its -shm. Anything
// else (missing, not a regular file, another version, not ours) goes through the full open of
// src/store/open.ts, which migrates or refuses with its own words.
import { DatabaseSync } from "node:sqlite";
import { damagedDatabase, DatabaseError, databaseLocked, notSqliteFile } from "../domain/errors.ts";
import { resolveSettings, type Settings } from "../domain/settings.ts";
import type { HookRegistry } from "../ops/startup-hook.ts";
import { loadSlow } from "./slow-path.ts";
import { decodeVm } from "../store/rows.ts";
import { ourSchemaAt } from "../store/page1.ts";
import { besideFiles } from "../platform/beside.ts";
import { type Vm, VM_ID_MAX } from "../domain/types.ts";

const BUSY_TIMEOUT_MS = 5000;
/** src/store/migrations.ts SCHEMA_VERSION, without loading the migrations' SQL (a test pins it);
 * a database at any other version takes the full open. */
export const HOOK_SCHEMA_VERSION = 5;
const VM_COLUMNS =
  "vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at, rowid AS _rowid";

export interface HookDb {
  registry: HookRegistry;
  settings: Settings;
  /** Pool mode's raw `pool:state` row (src/store/pool-cache.ts); null: standalone. */
  poolState: string | null;
  writeStale(vmUuid: string, change: { mark: string } | "clear"): void;
  close(): void;
}

/** True when `path` is a regular file (through a link too): safe to hand to SQLite directly. */
function regularFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function quickOpen(path: string): DatabaseSync | null {
  if (!regularFile(path)) return null;
  // A -wal beside it: a live WAL database (or one whose owner died), whose -shm would get a read
  // mark from SQLite: its bytes must say it is ours first. Without one, SQLite's open and read
  // change no byte (the -wal and -shm a WAL-mode file gets are removed again by our close), so
  // the check's cost (~3 ms cold) is paid only then. Asked without an exception (beside.ts).
  if (besideFiles(path, ["-wal"]).size > 0 && !ourSchemaAt(path, HOOK_SCHEMA_VERSION)) return null;
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const v = db.prepare("PRAGMA user_version").get() as { user_version: number };
    if (v.user_version === HOOK_SCHEMA_VERSION) return db;
  } catch {
    // the full open below names what is wrong
  }
  db.close();
  return null;
}

/** Opens the database at `path` for the hook; every failure is one DatabaseError line. */
export async function openHookDb(path: string, now: () => Date): Promise<HookDb> {
  let db: DatabaseSync | null = null;
  try {
    db = quickOpen(path);
  } catch {
    db = null;
  }
  if (db === null) {
    const { openDatabase } = await loadSlow();
    const opened = await openDatabase(path, { now });
    db = opened.db;
  }
  try {
    return wrap(db, path, now);
  } catch (e) {
    db.close();
    throw dbError(e, path);
  }
}

/**
 * An SQLite failure in one line, in the words of src/store/open.ts (sqliteError). Exported for
 * tests (foreign_db_test).
 */
export function dbError(e: unknown, path: string): unknown {
  if (e instanceof DatabaseError || !(e instanceof Error)) return e;
  const msg = e.message.split("\n")[0];
  if (/database is locked|database is busy|SQLITE_BUSY/i.test(msg)) {
    return databaseLocked(path);
  }
  // not SQLite at all: perhaps not ours either (a mistyped --db), not "damaged"
  if (/^file is not a database$/i.test(msg)) return notSqliteFile(path);
  if (/not a database|malformed|corrupt|no such (table|column)/i.test(msg)) {
    return damagedDatabase(path, msg);
  }
  return new DatabaseError(`database ${path}: ${msg}`);
}

function wrap(db: DatabaseSync, path: string, now: () => Date): HookDb {
  const guard = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    try {
      return f(...a);
    } catch (e) {
      throw dbError(e, path);
    }
  };
  const stored = new Map<string, string>();
  for (const r of db.prepare("SELECT key, value FROM settings").all()) {
    if (typeof r.key === "string" && typeof r.value === "string") stored.set(r.key, r.value);
  }
  const vmWhere = (where: string, v: string | number): Vm | null => {
    const r = db.prepare(`SELECT ${VM_COLUMNS} FROM vms WHERE ${where} = ?`).get(v);
    return r === undefined ? null : decodeVm(r);
  };
  const registry: HookRegistry = {
    getVm: guard((uuid: string) => vmWhere("vm_uuid", uuid)),
    getVmByVmId: guard((id: number) => vmWhere("vm_id", id)),
    lowestFreeVmId: guard(() => {
      const r = db.prepare(
        `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM vms WHERE vm_id = 1) THEN 1
                ELSE (SELECT MIN(v.vm_id + 1) FROM vms v
                      WHERE NOT EXISTS (SELECT 1 FROM vms w WHERE w.vm_id = v.vm_id + 1)) END AS id`,
      ).get() as { id: number | null } | undefined;
      return Math.min(r?.id ?? 1, VM_ID_MAX);
    }),
    hasStaleRun: guard((uuid: string) =>
      db.prepare("SELECT 1 AS x FROM stale_runs WHERE vm_uuid = ?").get(uuid) !== undefined
    ),
  };
  return {
    registry,
    settings: resolveSettings(stored),
    poolState: stored.get("pool:state") ?? null,
    writeStale: guard((vmUuid: string, change: { mark: string } | "clear") => {
      if (change === "clear") {
        db.prepare("DELETE FROM stale_runs WHERE vm_uuid = ?").run(vmUuid);
      } else {
        // kept from the first time, as Store.markStaleRun does
        db.prepare(
          `INSERT INTO stale_runs (vm_uuid, since, reason) VALUES (?, ?, ?)
           ON CONFLICT(vm_uuid) DO NOTHING`,
        ).run(vmUuid, now().toISOString(), change.mark);
      }
    }),
    close: () => db.close(),
  };
}
