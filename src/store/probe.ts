// Deciding what an existing file is before SQLite opens it for writing: from its bytes only (the
// header, page 1, and the newest committed page 1 in its -wal), so that a foreign, corrupt or
// live WAL-mode database of another application is refused without a byte of it, its -wal or its
// -shm changing. Even a read-only SQLite connection writes its read mark into a live -shm.
import { DatabaseError } from "../domain/errors.ts";
import { describeFileError } from "../domain/file-errors.ts";
import { SCHEMA_VERSION } from "./migrations.ts";
import { EXPECTED_TABLES, schemaError } from "./schema-check.ts";

const USE_REAL_FILE = "pass --db PATH";

const SQLITE_MAGIC = "SQLite format 3\0";

/** What an existing regular file holds, found without writing a byte to it or beside it. */
export type Probe = { kind: "empty" } | { kind: "ours"; version: number };

/** One schema object (table, index…) listed on page 1, as sqlite_master holds it. */
interface SchemaEntry {
  type: string;
  name: string;
  /** The CREATE statement when it is whole on page 1, else null. */
  sql: string | null;
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
    const [t2, q2] = varint(q);
    // tbl_name, rootpage and sql follow: the sql is read when it is whole on this page
    const rest: number[] = [];
    for (let r = q2; r < hdrEnd && rest.length < 3;) {
      const [t, next] = varint(r);
      rest.push(t);
      r = next;
    }
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
    let sql: string | null = null;
    if (rest.length === 3 && rest[2] >= 13 && rest[2] % 2 === 1) {
      const at = body + fieldSize(rest[0]) + fieldSize(rest[1]);
      const len = (rest[2] - 13) / 2;
      if (at + len <= end && at + len <= page.length) {
        sql = text.decode(page.subarray(at, at + len));
      }
    }
    out.push({ type, name, sql });
  }
  return out;
}

/** The bytes a record field of serial type `t` takes (SQLite file format §2.1). */
function fieldSize(t: number): number {
  if (t >= 12) return Math.floor((t - 12) / 2);
  return [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0][t];
}

/**
 * The first of our tables whose CREATE statement on page 1 lacks one of our columns, in the
 * words of the schema check ("table vms lacks column vm_name"), or null. Read from the bytes, so
 * a file with our table names and other columns is refused before SQLite opens it (and writes a
 * -wal and -shm beside it, or a read mark into a live -shm).
 */
function columnProblem(schema: SchemaEntry[]): string | null {
  for (const [table, columns] of Object.entries(EXPECTED_TABLES)) {
    const sql = schema.find((e) => e.type === "table" && e.name === table)?.sql;
    if (sql === undefined || sql === null) continue; // absent: checked on the connection
    const body = sql.slice(sql.indexOf("(") + 1);
    const missing = columns.filter((c) =>
      !new RegExp(`(^|[\\s,("'\`\\[])${c}([\\s,)"'\`\\]]|$)`).test(body)
    );
    if (missing.length > 0) return `table ${table} lacks column ${missing.join(", ")}`;
  }
  return null;
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
  // A live WAL-mode database keeps its newest pages in -wal: its schema may be there only.
  let fromWal: Uint8Array | null = null;
  try {
    fromWal = exists(`${path}-wal`) ? newestWalPage1(`${path}-wal`, pageSize) : null;
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

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

/**
 * The newest committed image of page 1 in a -wal file (SQLite file format §4.1–4.3), or null
 * when it holds none: frames are valid while their salts match the header and their cumulative
 * checksum holds; only frames up to the last commit frame count, as SQLite's own recovery says.
 * Reads only.
 */
export function newestWalPage1(walPath: string, pageSize: number): Uint8Array | null {
  const f = Deno.openSync(walPath, { read: true });
  try {
    const readAt = (off: number, len: number): Uint8Array | null => {
      const buf = new Uint8Array(len);
      f.seekSync(off, Deno.SeekMode.Start);
      let got = 0;
      while (got < len) {
        const n = f.readSync(buf.subarray(got));
        if (n === null) return null;
        got += n;
      }
      return buf;
    };
    const hdr = readAt(0, WAL_HEADER);
    if (hdr === null) return null;
    const h = new DataView(hdr.buffer);
    const magic = h.getUint32(0);
    if (magic !== 0x377f0682 && magic !== 0x377f0683) return null;
    const bigEndian = magic === 0x377f0683;
    if (h.getUint32(8) !== pageSize) return null;
    let sums = walChecksum(hdr.subarray(0, 24), [0, 0], bigEndian);
    if (sums[0] !== h.getUint32(24) || sums[1] !== h.getUint32(28)) return null;
    const salt1 = h.getUint32(16);
    const salt2 = h.getUint32(20);
    let newest: Uint8Array | null = null;
    let candidate: Uint8Array | null = null; // page 1 written since the last commit frame
    for (let off = WAL_HEADER;; off += FRAME_HEADER + pageSize) {
      const frame = readAt(off, FRAME_HEADER + pageSize);
      if (frame === null) break;
      const v = new DataView(frame.buffer);
      if (v.getUint32(8) !== salt1 || v.getUint32(12) !== salt2) break;
      sums = walChecksum(frame.subarray(0, 8), sums, bigEndian);
      sums = walChecksum(frame.subarray(FRAME_HEADER), sums, bigEndian);
      if (sums[0] !== v.getUint32(16) || sums[1] !== v.getUint32(20)) break;
      if (v.getUint32(0) === 1) candidate = frame.subarray(FRAME_HEADER);
      if (v.getUint32(4) !== 0) { // a commit frame: what came before it is committed
        if (candidate !== null) newest = candidate;
        candidate = null;
      }
    }
    return newest;
  } finally {
    f.close();
  }
}

/** SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`. */
function walChecksum(data: Uint8Array, s: [number, number], bigEndian: boolean): [number, number] {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let s0 = s[0];
  let s1 = s[1];
  for (let i = 0; i < data.length; i += 8) {
    s0 = (s0 + v.getUint32(i, !bigEndian) + s1) >>> 0;
    s1 = (s1 + v.getUint32(i + 4, !bigEndian) + s0) >>> 0;
  }
  return [s0, s1];
}
