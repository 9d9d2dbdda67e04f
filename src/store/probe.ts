// Deciding what an existing file is before SQLite opens it for writing: from its bytes only (the
// header, page 1, and the newest committed page 1 in its -wal), so that a foreign, corrupt or
// live WAL-mode database of another application is refused without a byte of it, its -wal or its
// -shm changing. Even a read-only SQLite connection writes its read mark into a live -shm.
import { damagedDatabase, DatabaseError, notSqliteFile } from "../domain/errors.ts";
import { describeFileError } from "../domain/file-errors.ts";
import { besideFiles } from "../platform/beside.ts";
import { SCHEMA_VERSION } from "./migrations.ts";
import { schemaError } from "./schema-check.ts";
import {
  columnProblem,
  newestWalPage1,
  readUpTo,
  type SchemaEntry,
  schemaOnPage1,
} from "./page1.ts";

const USE_REAL_FILE = "pass --db PATH";

const SQLITE_MAGIC = "SQLite format 3\0";

/** What an existing regular file holds, found without writing a byte to it or beside it. */
export type Probe = { kind: "empty" } | { kind: "ours"; version: number };

/**
 * Decides whether the existing file at `path` is a vgpu-admin database before anything opens it
 * for writing, from its bytes only: the header (magic, page size, page count, schema version)
 * and the names on page 1. Refuses (DatabaseError) another application's database, a file that
 * is not SQLite, a truncated or garbled one, and a newer schema. An empty file, or an SQLite
 * file with no schema object at all (one being created by another vgpu-admin this instant), is
 * "empty". Columns and indexes are checked on the real connection (assertSchema).
 */
export function probeDatabase(path: string, o: { allowNewer?: boolean } = {}): Probe {
  // A refusal is judged from a listing, a stat and bytes read one after the other: another
  // vgpu-admin creating the file this instant may change it in between (its last close writes
  // page 1, whose header counts every page, then the other pages, and only then removes its
  // -wal). A refusal stands only when the file and what is beside it did not change while it was
  // judged; a file that is truly damaged or foreign does not change, and is refused at once.
  let wait = 1;
  for (const end = performance.now() + RECHECK_MS;;) {
    const seen: Seen = { beside: "", size: -1, mtime: null, ino: null };
    try {
      return probeOnce(path, o, seen);
    } catch (e) {
      // seen.size stays -1 when the file could not be read: that refusal is not from its bytes
      if (!(e instanceof DatabaseError) || seen.size < 0 || performance.now() >= end) throw e;
      if (!changedSince(path, seen)) throw e;
    }
    Atomics.wait(SLEEP, 0, 0, wait); // the creator is at work: give it the cores for a moment
    wait = Math.min(wait * 2, 50);
  }
}

/** How long a refusal is looked at again while the file keeps changing (a creator at work). */
const RECHECK_MS = 5000;
const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/** What one look saw of the file: the names beside it (listed first), its stat as read. */
interface Seen {
  beside: string;
  size: number;
  mtime: number | null;
  ino: number | null;
}

function besideKey(path: string): Set<string> {
  return besideFiles(path, ["-wal", "-journal"]);
}

/** True when the file or the names beside it are not what `seen` recorded. */
function changedSince(path: string, seen: Seen): boolean {
  try {
    const st = Deno.statSync(path);
    return [...besideKey(path)].sort().join() !== seen.beside || st.size !== seen.size ||
      (st.mtime?.getTime() ?? null) !== seen.mtime || st.ino !== seen.ino;
  } catch {
    return true;
  }
}

function probeOnce(path: string, o: { allowNewer?: boolean }, seen: Seen): Probe {
  const notOurs = (what: string) =>
    new DatabaseError(
      `${path} is not a vgpu-admin database (${what}); nothing was changed: ${USE_REAL_FILE}`,
    );
  const damaged = (what: string) => damagedDatabase(path, what);
  // Listed BEFORE the bytes are read: a -wal seen here covers a creator's checkpoint under way
  // while they are read (asked without an exception for the usual "neither": beside.ts).
  const beside = besideKey(path);
  seen.beside = [...beside].sort().join();
  let page: Uint8Array;
  let size: number;
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      const st = f.statSync();
      size = st.size;
      page = readUpTo(f, Math.min(size, 65536));
      seen.mtime = st.mtime?.getTime() ?? null;
      seen.ino = st.ino;
      seen.size = st.size; // read: what follows is judged from these bytes
    } finally {
      f.close();
    }
  } catch (e) {
    throw new DatabaseError(
      `cannot read database ${path}: ${describeFileError(e)}; run as root or ${USE_REAL_FILE}`,
    );
  }
  if (size === 0) return { kind: "empty" };
  if (new TextDecoder("latin1").decode(page.subarray(0, 16)) !== SQLITE_MAGIC) {
    // A file SQLite itself would not open, said in SQLite's words: a garbled header looks so, and
    // so does any other file a mistyped --db names (/etc/passwd must not be moved aside)
    throw notSqliteFile(path);
  }
  if (page.length < 100) throw damaged(`truncated: ${size} bytes`);
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const rawSize = view.getUint16(16);
  const pageSize = rawSize === 1 ? 65536 : rawSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw damaged("garbled header");
  const pages = view.getUint32(28);
  const journals = beside.size > 0;
  // A live WAL-mode database keeps its newest pages in -wal: its schema may be there only.
  let fromWal: Uint8Array | null = null;
  try {
    fromWal = beside.has("-wal") ? newestWalPage1(`${path}-wal`, pageSize) : null;
  } catch (e) {
    // The last connection of another process removes -wal when it closes (after its checkpoint):
    // gone between the look and the read is "no -wal", as page 1 already holds what it held.
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new DatabaseError(
        `cannot read ${path}-wal: ${describeFileError(e)}; run as root or ${USE_REAL_FILE}`,
      );
    }
  }
  // The page count is valid only when its "valid-for" number equals the change counter; a -wal
  // beside it may hold pages not yet copied back (and a checkpoint may be under way).
  if (!journals && view.getUint32(24) === view.getUint32(92) && pages * pageSize > size) {
    throw damaged(`truncated: ${size} of ${pages * pageSize} bytes`);
  }
  if (page.length < Math.min(pageSize, size)) throw damaged(`truncated: ${size} bytes`);
  if (fromWal !== null) page = fromWal;
  const version = new DataView(page.buffer, page.byteOffset, page.byteLength).getInt32(60);
  let schema: SchemaEntry[] | "interior";
  try {
    schema = schemaOnPage1(page.subarray(0, pageSize), pageSize - page[20]);
  } catch (e) {
    // With a -wal beside it, page 1 may be stale or mid-checkpoint: SQLite reads it properly.
    if (journals && fromWal === null && version > 0) return { kind: "ours", version };
    throw damaged(`page 1: ${(e as Error).message}`);
  }
  // Our schema fits on page 1 (it fills about half of it); a bigger one is not ours.
  if (schema === "interior") throw notOurs("an SQLite database with a larger schema than ours");
  const tables = schema.filter((e) => e.type === "table" && !e.name.startsWith("sqlite_"))
    .map((e) => e.name).sort();
  // Nothing committed yet; with a -wal beside it, another vgpu-admin may be creating it right now
  // (or another application: migrate() looks again inside its write lock before adding a table).
  if (version === 0 && schema.length === 0) {
    return journals ? { kind: "ours", version } : { kind: "empty" };
  }
  const list = (n: string[]) => n.slice(0, 5).join(", ") + (n.length > 5 ? ", …" : "");
  if (!tables.includes("vms") || !tables.includes("pools") || version <= 0) {
    throw notOurs(
      tables.length === 0
        ? `an SQLite database with schema version ${version} and no tables`
        : `an SQLite database of another application: tables ${list(tables)}`,
    );
  }
  const problem = columnProblem(schema);
  if (problem !== null) throw schemaError(path, problem);
  if (version > SCHEMA_VERSION && o.allowNewer !== true) {
    throw new DatabaseError(
      `database ${path} has schema version ${version}, newer than this vgpu-admin understands (${SCHEMA_VERSION}); install a newer vgpu-admin`,
    );
  }
  return { kind: "ours", version };
}
