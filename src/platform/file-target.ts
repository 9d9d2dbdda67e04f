// The one place that decides whether vgpu-admin may use a path, and how (design.md §7): the
// database, a file it writes (export, hook script, logrotate snippet, hook log, lock files) and
// a file it reads (import). Links, devices, FIFOs, sockets and directories get one rule each
// here, worded once; callers add what they were doing and what to do about it.
import { describeFileError, dirname } from "../domain/file-errors.ts";

/**
 * db: a regular file, or a symbolic link to one (the database may live elsewhere); missing is
 * fine (a command that writes creates it). write: a regular file or missing, never a link
 * (vgpu-admin never writes through a link). read: a regular file or a pipe (`<(…)` gives
 * /dev/fd/N, a link to a pipe). append (lock files, the hook log): a regular file or missing,
 * never a link.
 */
export type TargetUse = "db" | "write" | "read" | "append";

export interface FileTarget {
  path: string;
  /** pipe: a FIFO (only for `read`). */
  kind: "missing" | "file" | "pipe";
  /** The file's identity (device and inode) when it exists; null when missing. */
  info: Deno.FileInfo | null;
}

/**
 * Why a path cannot be used, in words ("it is a directory"). `reason` chooses the advice:
 * access (permissions: run as root), link (remove the link), kind (give another path),
 * parent (a part of the path is not a directory).
 */
export class FileTargetError extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
    readonly reason: "access" | "link" | "kind" | "parent",
  ) {
    super(why);
    this.name = "FileTargetError";
  }
}

/** What a path is, in words ("a character device"); null for a regular file. */
export function kindWords(st: Deno.FileInfo): string | null {
  if (st.isFile) return null;
  if (st.isDirectory) return "a directory";
  if (st.isSymlink) return "a symbolic link";
  if (st.isCharDevice) return "a character device";
  if (st.isBlockDevice) return "a block device";
  if (st.isFifo) return "a named pipe (FIFO)";
  if (st.isSocket) return "a socket";
  return "not a regular file";
}

/** Where the symbolic link at `path` points, or null when `path` is not a link (or absent). */
export function linkTarget(path: string): string | null {
  try {
    if (!Deno.lstatSync(path).isSymlink) return null;
  } catch {
    return null;
  }
  try {
    return Deno.readLinkSync(path);
  } catch {
    return "an unreadable target";
  }
}

/** The reason every writer gives for a link: one wording. */
export function linkWhy(linkTo: string): string {
  return `it is a symbolic link to ${linkTo}; vgpu-admin never writes through a link`;
}

/**
 * Looks at `path` without opening it and says whether it may be used `o.for` (see TargetUse);
 * throws FileTargetError otherwise. Opening a FIFO would block, a device never ends, and SQLite
 * would write journals beside a device: each is refused before anything opens it.
 */
export function fileTarget(path: string, o: { for: TargetUse }): FileTarget {
  let st: Deno.FileInfo;
  try {
    // read follows links: /dev/stdin and `<(…)` are links to the pipe itself.
    st = o.for === "read" ? Deno.statSync(path) : Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      if (o.for === "read") throw new FileTargetError(path, "no such file", "kind");
      return { path, kind: "missing", info: null };
    }
    if (e instanceof Deno.errors.NotADirectory) {
      const dir = dirname(path);
      let dirIsFile = false;
      try {
        dirIsFile = !Deno.statSync(dir).isDirectory;
      } catch { /* a part further up is the file */ }
      throw dirIsFile
        ? new FileTargetError(path, `${dir} is not a directory`, "kind")
        : new FileTargetError(path, `${dir}: a part of the path is not a directory`, "parent");
    }
    throw new FileTargetError(path, describeFileError(e), "access");
  }
  if (st.isSymlink) {
    const to = linkTarget(path) ?? "an unreadable target";
    if (o.for !== "db") throw new FileTargetError(path, linkWhy(to), "link");
    try {
      st = Deno.statSync(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "which does not exist" : describeFileError(e);
      throw new FileTargetError(path, `it is a symbolic link to ${to}, ${why}`, "link");
    }
    const kind = kindWords(st);
    if (kind !== null) {
      throw new FileTargetError(path, `it is a symbolic link to ${to}, ${kind}`, "kind");
    }
    return { path, kind: "file", info: st };
  }
  if (st.isFile) return { path, kind: "file", info: st };
  if (o.for === "read" && st.isFifo) return { path, kind: "pipe", info: st };
  if (o.for === "write" && st.isDirectory) {
    throw new FileTargetError(path, "it is a directory; give a file name", "kind");
  }
  if (o.for === "write") throw new FileTargetError(path, "it is not a regular file", "kind");
  throw new FileTargetError(path, `it is ${kindWords(st)}`, "kind");
}

/** True when both infos name the same file (device and inode). */
export function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.dev === b.dev && a.ino !== null && a.ino === b.ino;
}
