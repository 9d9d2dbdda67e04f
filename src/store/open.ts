// Opening the SQLite store: directory and file modes, connection settings, forward migrations
// (after a backup), and the schema check. Every failure becomes one DatabaseError line.
import { backup, DatabaseSync } from "node:sqlite";
import { DatabaseError } from "../domain/errors.ts";
import { describeFileError, dirname } from "../domain/file-errors.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
import { assertSchema, findSchemaProblem, schemaError } from "./schema-check.ts";

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

/** What a path is, in words, for a refusal ("a character device"); null for a regular file. */
function kindOf(st: Deno.FileInfo): string | null {
  if (st.isFile) return null;
  if (st.isDirectory) return "a directory";
  if (st.isSymlink) return "a symbolic link";
  if (st.isCharDevice) return "a character device";
  if (st.isBlockDevice) return "a block device";
  if (st.isFifo) return "a named pipe (FIFO)";
  if (st.isSocket) return "a socket";
  return "not a regular file";
}

const USE_REAL_FILE = "pass --db PATH";
const WRITERS =
  "a command that writes creates it (register-vm, import, settings KEY VALUE, set-pool-name, install-hook)";

/**
 * Checks what `path` is without opening it: "missing", or "file" (a regular file, or a symbolic
 * link to one). Anything else (directory, device, FIFO, socket, a link to one, a dangling link)
 * is refused: opening a FIFO would block, and SQLite would write journals beside a device.
 */
function targetKind(path: string): "missing" | "file" {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    if (e instanceof Deno.errors.NotADirectory) {
      const dir = dirname(path);
      let dirIsFile = false;
      try {
        dirIsFile = !Deno.statSync(dir).isDirectory;
      } catch { /* a part further up is the file */ }
      throw new DatabaseError(
        dirIsFile
          ? `cannot use database ${path}: ${dir} is not a directory; ${USE_REAL_FILE}`
          : `cannot use database ${path}: ${dir}: a part of the path is not a directory; run as root or ${USE_REAL_FILE}`,
      );
    }
    throw new DatabaseError(
      `cannot use database ${path}: ${describeFileError(e)}; run as root or ${USE_REAL_FILE}`,
    );
  }
  if (st.isSymlink) {
    let to = "";
    try {
      to = ` to ${Deno.readLinkSync(path)}`;
    } catch { /* the target is named when readable */ }
    try {
      st = Deno.statSync(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "which does not exist" : describeFileError(e);
      throw new DatabaseError(
        `cannot open database ${path}: it is a symbolic link${to}, ${why}; remove the link or ${USE_REAL_FILE}`,
      );
    }
    const kind = kindOf(st);
    if (kind !== null) {
      throw new DatabaseError(
        `cannot open database ${path}: it is a symbolic link${to}, ${kind}; ${USE_REAL_FILE}`,
      );
    }
    return "file";
  }
  const kind = kindOf(st);
  if (kind !== null) {
    throw new DatabaseError(`cannot open database ${path}: it is ${kind}; ${USE_REAL_FILE}`);
  }
  return "file";
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

const SQLITE_MAGIC = "SQLite format 3\0";

/** What an existing regular file holds, found without writing a byte to it or beside it. */
type Probe = { kind: "empty" } | { kind: "ours"; version: number };

/** One schema object (table, index…) listed on page 1, as sqlite_master holds it. */
interface SchemaEntry {
  type: string;
  name: string;
}

/**
 * Reads the names in sqlite_master from the bytes of page 1 (SQLite file format §1.6 and §2.1),
 * or returns "interior" when the schema does not fit on page 1. Throws RangeError on bytes that
 * do not form a b-tree page. Reading the bytes ourselves, rather than through SQLite, is what
 * keeps a foreign WAL database untouched: even a read-only SQLite connection creates -wal and
 * -shm beside it, and Deno's node:sqlite cannot open an `immutable=1` URI under scoped
 * permissions (it treats the URI as a path).
 */
export function schemaOnPage1(page: Uint8Array, usable: number): SchemaEntry[] | "interior" {
  const at = (i: number) => {
    if (i < 0 || i >= page.length) throw new RangeError("outside page 1");
    return page[i];
  };
  const u16 = (i: number) => (at(i) << 8) | at(i + 1);
  const varint = (i: number): [number, number] => {
    let v = 0;
    for (let n = 0; n < 8; n++) {
      const b = at(i + n);
      v = v * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) return [v, i + n + 1];
    }
    return [v * 256 + at(i + 8), i + 9];
  };
  const kind = at(100);
  if (kind === 0x05) return "interior";
  if (kind !== 0x0d) throw new RangeError(`not a table b-tree page (type ${kind})`);
  const cells = u16(103);
  const out: SchemaEntry[] = [];
  const text = new TextDecoder();
  // Only the part of a payload stored on this page is read (type and name come first).
  const x = usable - 35;
  const m = Math.floor(((usable - 12) * 32) / 255) - 23;
  for (let c = 0; c < cells; c++) {
    let p = u16(108 + 2 * c);
    let payload: number;
    [payload, p] = varint(p);
    [, p] = varint(p); // rowid
    const k = m + ((payload - m) % (usable - 4));
    const local = payload <= x ? payload : (k <= x ? k : m);
    const end = p + local;
    const [hdr, first] = varint(p);
    const hdrEnd = p + hdr;
    const [t1, q] = varint(first);
    const [t2] = varint(q);
    let body = hdrEnd;
    const field = (t: number): string => {
      if (t < 13 || t % 2 === 0) throw new RangeError("a schema name that is not text");
      const len = (t - 13) / 2;
      if (body + len > end || body + len > page.length) {
        throw new RangeError("a schema name runs past its cell");
      }
      const v = text.decode(page.subarray(body, body + len));
      body += len;
      return v;
    };
    const type = field(t1);
    const name = field(t2);
    out.push({ type, name });
  }
  return out;
}

/**
 * Decides whether the existing file at `path` is a vgpu-admin database before anything opens it
 * for writing, from its bytes only: the header (magic, page size, page count, schema version)
 * and the names on page 1. Refuses (DatabaseError) another application's database, a file that
 * is not SQLite, a truncated or garbled one, and a newer schema. An empty file, or an SQLite
 * file with no schema object at all (one being created by another vgpu-admin this instant), is
 * "empty". Columns and indexes are checked on the real connection (assertSchema).
 */
export function probeDatabase(path: string, o: { allowNewer?: boolean } = {}): Probe {
  const notOurs = (what: string) =>
    new DatabaseError(
      `${path} is not a vgpu-admin database (${what}); nothing was changed: ${USE_REAL_FILE}`,
    );
  const damaged = (what: string) =>
    new DatabaseError(
      `database ${path} is damaged (${what}); move it aside and restore a backup or re-import an export`,
    );
  let page: Uint8Array;
  let size: number;
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      size = f.statSync().size;
      page = new Uint8Array(Math.min(size, 65536));
      let off = 0;
      while (off < page.length) {
        const n = f.readSync(page.subarray(off));
        if (n === null) break;
        off += n;
      }
      page = page.subarray(0, off);
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
    // A file SQLite itself would not open: said in SQLite's words (a garbled header looks so).
    throw damaged("file is not a database");
  }
  if (page.length < 100) throw damaged(`truncated: ${size} bytes`);
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const rawSize = view.getUint16(16);
  const pageSize = rawSize === 1 ? 65536 : rawSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw damaged("garbled header");
  const pages = view.getUint32(28);
  const journals = exists(`${path}-wal`) || exists(`${path}-journal`);
  // The page count is valid only when its "valid-for" number equals the change counter; a -wal
  // beside it may hold pages not yet copied back (and a checkpoint may be under way).
  if (!journals && view.getUint32(24) === view.getUint32(92) && pages * pageSize > size) {
    throw damaged(`truncated: ${size} of ${pages * pageSize} bytes`);
  }
  if (page.length < Math.min(pageSize, size)) throw damaged(`truncated: ${size} bytes`);
  const version = view.getInt32(60);
  let schema: SchemaEntry[] | "interior";
  try {
    schema = schemaOnPage1(page.subarray(0, pageSize), pageSize - page[20]);
  } catch (e) {
    // With a -wal beside it, page 1 may be stale or mid-checkpoint: SQLite reads it properly.
    if (journals && version > 0) return { kind: "ours", version };
    throw damaged(`page 1: ${(e as Error).message}`);
  }
  // Our schema fits on page 1 (it fills about half of it); a bigger one is not ours.
  if (schema === "interior") throw notOurs("an SQLite database with a larger schema than ours");
  const tables = schema.filter((e) => e.type === "table" && !e.name.startsWith("sqlite_"))
    .map((e) => e.name).sort();
  // Nothing on disk yet; with a -wal beside it, another vgpu-admin may be creating it right now.
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
  if (version > SCHEMA_VERSION && o.allowNewer !== true) {
    throw new DatabaseError(
      `database ${path} has schema version ${version}, newer than this vgpu-admin understands (${SCHEMA_VERSION}); install a newer vgpu-admin`,
    );
  }
  return { kind: "ours", version };
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
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

/** True when nothing at all is at `path` (not even a dangling link). */
export function isMissing(path: string): boolean {
  return !exists(path);
}

/**
 * A fresh database in memory, as a new file would start: what `import --dry-run` plans against
 * when there is no database yet (a dry run creates nothing).
 */
export function openEmptyInMemory(now: () => Date): OpenedDatabase {
  const db = new DatabaseSync(":memory:");
  db.exec("PRAGMA foreign_keys = ON");
  migrate(db, now());
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
    if (version > 0) {
      // At the current version this is the full check (assertSchema below is then not repeated).
      const problem = findSchemaProblem(db, version === SCHEMA_VERSION ? undefined : version);
      if (problem !== null) throw schemaError(path, problem);
    }
    const mode = (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string })
      .journal_mode;
    if (mode !== "wal") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    let backupPath: string | null = null;
    if (version < SCHEMA_VERSION) {
      if (version > 0) {
        backupPath = createBackupFile(backupBase(path, `v${version}`, o.now()));
        await backup(db, backupPath);
      }
      // Never a chmod here: only a file this run created gets its mode set (createFile).
      migrate(db, o.now());
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
