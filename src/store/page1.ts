// SQLite's file format read from the bytes (page 1, and the newest committed page 1 in a -wal),
// never through SQLite: even a read-only SQLite connection writes its read mark into a live -shm
// (issue 21 item 5). probe.ts decides from them what an existing file is before any open;
// src/hook/db.ts checks with them that the file is ours before its quick open (issue 19).
import { EXPECTED_TABLES } from "./schema-check.ts";

/** One schema object (table, index…) listed on page 1, as sqlite_master holds it. */
export interface SchemaEntry {
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
  // where the last varint read ended (no [value, next] pairs: their destructuring is slow cold)
  let next = 0;
  const varint = (i: number): number => {
    let v = 0;
    for (let n = 0; n < 8; n++) {
      const b = at(i + n);
      v = v * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) {
        next = i + n + 1;
        return v;
      }
    }
    next = i + 9;
    return v * 256 + at(i + 8);
  };
  const kind = at(100);
  if (kind === 0x05) return "interior";
  if (kind !== 0x0d) throw new RangeError(`not a table b-tree page (type ${kind})`);
  const cells = u16(103);
  const out: SchemaEntry[] = [];
  // Only the part of a payload stored on this page is read (type and name come first).
  const x = usable - 35;
  const m = Math.floor(((usable - 12) * 32) / 255) - 23;
  for (let c = 0; c < cells; c++) {
    const payload = varint(u16(108 + 2 * c));
    varint(next); // rowid
    const p = next;
    const k = m + ((payload - m) % (usable - 4));
    const local = payload <= x ? payload : (k <= x ? k : m);
    const end = p + local;
    const hdrEnd = p + varint(p);
    const t1 = varint(next);
    const t2 = varint(next);
    // tbl_name, rootpage and sql follow: the sql is read when it is whole on this page
    const rest: number[] = [];
    while (next < hdrEnd && rest.length < 3) rest.push(varint(next));
    let body = hdrEnd;
    const field = (t: number): string => {
      if (t < 13 || t % 2 === 0) throw new RangeError("a schema name that is not text");
      const len = (t - 13) / 2;
      if (body + len > end || body + len > page.length) {
        throw new RangeError("a schema name runs past its cell");
      }
      const v = decodeText(page.subarray(body, body + len));
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
        sql = decodeText(page.subarray(at, at + len));
      }
    }
    out.push({ type, name, sql });
  }
  return out;
}

/** UTF-8 text: ASCII (every schema of ours) without a TextDecoder, whose first use costs. */
function decodeText(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) return new TextDecoder().decode(bytes);
  }
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
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
export function columnProblem(schema: SchemaEntry[]): string | null {
  for (const [table, columns] of Object.entries(EXPECTED_TABLES)) {
    const sql = schema.find((e) => e.type === "table" && e.name === table)?.sql;
    if (sql === undefined || sql === null) continue; // absent: checked on the connection
    const body = sql.slice(sql.indexOf("(") + 1);
    const missing = columns.filter((c) => !hasWord(body, c));
    if (missing.length > 0) return `table ${table} lacks column ${missing.join(", ")}`;
  }
  return null;
}

/** Characters a column name may follow, and may be followed by, in a CREATE statement. */
const BEFORE = " \t\n\r\f\v,(\"'`[";
const AFTER = " \t\n\r\f\v,)\"'`]";

/**
 * True when `word` is in `text` after the start or one of BEFORE and before the end or one of
 * AFTER (a column name in a CREATE TABLE body). Without a RegExp per column: this runs at every
 * start (the probe of every command, the hook's quick open), where compiling ~40 costs ~1 ms.
 */
export function hasWord(text: string, word: string): boolean {
  for (let i = text.indexOf(word); i >= 0; i = text.indexOf(word, i + 1)) {
    const end = i + word.length;
    if (
      (i === 0 || BEFORE.includes(text[i - 1])) &&
      (end === text.length || AFTER.includes(text[end]))
    ) {
      return true;
    }
  }
  return false;
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

/** "SQLite format 3\0", the first 16 bytes of every SQLite database file. */
const MAGIC = [83, 81, 76, 105, 116, 101, 32, 102, 111, 114, 109, 97, 116, 32, 51, 0];

/**
 * True when the file at `path` is, from its bytes alone, a vgpu-admin database at schema
 * `version` holding all our tables with our columns: its newest committed page 1 (from its -wal
 * when that holds one, else the file's own). False for anything else, and for whatever cannot be
 * read: the caller then takes the full open (src/store/open.ts), which says what is wrong. Nothing
 * is written, -shm included (src/hook/db.ts's quick open asks this before SQLite sees the file).
 */
/** The first `n` bytes of `f` (fewer when the file is shorter), read whole however they come. */
export function readUpTo(f: Deno.FsFile, n: number): Uint8Array {
  const buf = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = f.readSync(buf.subarray(off));
    if (got === null) break;
    off += got;
  }
  return buf.subarray(0, off);
}

export function ourSchemaAt(path: string, version: number): boolean {
  try {
    let page: Uint8Array;
    const f = Deno.openSync(path, { read: true });
    try {
      page = readUpTo(f, 65536);
    } finally {
      f.close();
    }
    if (page.length < 100 || MAGIC.some((b, i) => page[i] !== b)) return false;
    const rawSize = (page[16] << 8) | page[17];
    const pageSize = rawSize === 1 ? 65536 : rawSize;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0 || page.length < pageSize) {
      return false;
    }
    let page1: Uint8Array = page.subarray(0, pageSize);
    try {
      page1 = newestWalPage1(`${path}-wal`, pageSize) ?? page1;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) return false; // no -wal: the file's page 1 is current
    }
    const v = new DataView(page1.buffer, page1.byteOffset, page1.byteLength);
    if (v.getInt32(60) !== version) return false;
    const schema = schemaOnPage1(page1, pageSize - page1[20]);
    if (schema === "interior") return false;
    const tables = new Set(schema.filter((e) => e.type === "table").map((e) => e.name));
    return Object.keys(EXPECTED_TABLES).every((t) => tables.has(t)) &&
      columnProblem(schema) === null;
  } catch {
    return false;
  }
}
