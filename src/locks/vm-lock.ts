// The operation lock per VM (design.md §5 step 1): one reconfiguration, register, remove, sync,
// adopt or import touches a VM at a time. An flock on `<real db path>.locks/<uuid>`: the kernel
// releases it when its process ends however it ends (kill -9 included), so a dead process holds
// nothing. The file keeps the holder's command, pid and start time for the refusal message.
// Files are never deleted: unlinking a lock file while another process opens it would let two
// hold it.
//
// The directory is named after the database file's real path (symbolic links and `..` resolved),
// so two admins reaching one database through different spellings meet the same locks.
//
// A run that locks more than BULK_VMS VMs (sync, import, adopt of many VMs) would hold one open
// file per VM, and `ulimit -n 1024` ends it at about 1,000. It takes instead the host-wide lock
// `.all` exclusively: one file for any number of VMs. Every per-VM holder also holds `.all`
// shared, so a bulk run and a single-VM change never overlap: each refuses the other at once.
import { humanTime } from "../domain/time.ts";
import { BusyError, DatabaseError } from "../domain/errors.ts";
import { describeFileError } from "../domain/file-errors.ts";
import { fileTarget, FileTargetError, sameFile } from "../platform/file-target.ts";

export interface LockHolder {
  command: string;
  pid: number;
  since: string;
}

export interface VmLocks {
  /** Takes every VM's lock or none: BusyError naming the holder when one is held. */
  acquire(vmUuids: readonly string[]): void;
  /** True when nobody holds the VM's lock (the process of an open journal entry is gone). */
  isFree(vmUuid: string): boolean;
  /** The current holder of a VM's lock, or null. */
  holder(vmUuid: string): LockHolder | null;
  /** Releases every lock this process took. */
  releaseAll(): void;
}

/** Above this many VMs one run takes the host-wide lock instead of one open file per VM. */
export const BULK_VMS = 64;

/** The name of the host-wide lock file in the lock directory (never a VM uuid). */
const ALL = ".all";

/**
 * The lock directory of the database at `dbPath`: beside the file's real path, so that every
 * spelling of the path (a symbolic link, `./`, `..`) leads to the same directory. A path that
 * does not resolve (no database yet) is used as given.
 */
export function lockDirFor(dbPath: string): string {
  let real = dbPath;
  try {
    real = Deno.realPathSync(dbPath);
  } catch { /* missing: nothing to lock against yet */ }
  return `${real}.locks`;
}

export function createVmLocks(
  dbPath: string,
  me: { command: string; pid: number; now: () => Date },
): VmLocks {
  let dirChecked: string | null = null;
  /** The checked lock directory, created when missing. */
  const dir = () => {
    dirChecked ??= ensureDir(lockDirFor(dbPath), true)!;
    return dirChecked;
  };
  /** The checked lock directory, or null when there is none (nobody ever locked a VM). */
  const existingDir = () => dirChecked ?? (dirChecked = ensureDir(lockDirFor(dbPath), false));
  const held = new Map<string, Deno.FsFile>();
  /** `.all`, held shared (per-VM mode) or exclusive (bulk); null when nothing is held. */
  let all: { f: Deno.FsFile; exclusive: boolean } | null = null;

  const holderText = () =>
    JSON.stringify({ command: me.command, pid: me.pid, since: me.now().toISOString() });

  const busy = (what: string, h: LockHolder | null) =>
    new BusyError(
      `${what} is being changed by another vgpu-admin (${
        h === null
          ? "a process that is starting"
          : `${h.command}, pid ${h.pid}, since ${humanTime(h.since)}`
      }); wait for it to finish, then run the command again`,
    );

  /** Takes `.all` shared (per-VM mode) or exclusive (bulk); BusyError when it cannot. */
  const takeAll = (exclusive: boolean, uuids: readonly string[]) => {
    const f = openLockFile(dir(), ALL, true)!;
    if (f.tryLockSync(exclusive)) {
      if (exclusive) writeHolder(f, dir(), ALL, holderText());
      all = { f, exclusive };
      return;
    }
    if (!exclusive) {
      // a bulk run holds every VM: its name is in `.all`
      const h = readHolder(f);
      f.close();
      throw busy(uuids.length === 1 ? `VM ${uuids[0]}` : `VMs ${uuids[0]} and others`, h);
    }
    f.close();
    // single-VM changes hold it shared: name one of them (one of ours first)
    const named = findHeld(dir(), uuids);
    throw named === null ? busy("a VM", null) : busy(`VM ${named.uuid}`, named.holder);
  };

  const locks: VmLocks = {
    acquire(uuids) {
      const fresh = [...new Set(uuids)].sort().filter((u) => !held.has(u));
      if (all?.exclusive === true || fresh.length === 0) return; // bulk: we hold every VM
      if (all === null) {
        if (fresh.length > BULK_VMS) {
          takeAll(true, fresh);
          return;
        }
        takeAll(false, fresh);
      }
      const taken: string[] = [];
      try {
        for (const uuid of fresh) {
          const f = openLockFile(dir(), uuid, true)!;
          if (!f.tryLockSync(true)) {
            const h = readHolder(f);
            f.close();
            throw busy(`VM ${uuid}`, h);
          }
          held.set(uuid, f);
          taken.push(uuid);
          writeHolder(f, dir(), uuid, holderText());
        }
      } catch (e) {
        for (const uuid of taken) release(uuid);
        if (held.size === 0) releaseAll();
        throw e;
      }
    },
    isFree(uuid) {
      if (held.has(uuid) || all?.exclusive === true) return false;
      const d = existingDir();
      if (d === null) return true;
      const f = openLockFile(d, uuid, false);
      if (f !== null) {
        try {
          if (!f.tryLockSync(true)) return false;
          f.unlockSync();
        } finally {
          f.close();
        }
      }
      // a bulk run holds every VM's lock
      if (all !== null) return true; // we hold `.all` shared: nobody holds it exclusively
      const a = openLockFile(d, ALL, false);
      if (a === null) return true;
      try {
        if (!a.tryLockSync(false)) return false;
        a.unlockSync();
        return true;
      } finally {
        a.close();
      }
    },
    holder(uuid) {
      const d = existingDir();
      if (d === null) return null;
      const f = openLockFile(d, uuid, false);
      if (f !== null) {
        try {
          if (!f.tryLockSync(true)) return readHolder(f);
          f.unlockSync();
        } finally {
          f.close();
        }
      }
      const a = all === null ? openLockFile(d, ALL, false) : null;
      if (a === null) return null;
      try {
        if (a.tryLockSync(false)) {
          a.unlockSync();
          return null;
        }
        return readHolder(a);
      } finally {
        a.close();
      }
    },
    releaseAll,
  };
  function release(uuid: string): void {
    const f = held.get(uuid);
    if (f === undefined) return;
    held.delete(uuid);
    drop(f);
  }
  function releaseAll(): void {
    for (const uuid of [...held.keys()]) release(uuid);
    if (all !== null) {
      const a = all;
      all = null;
      if (a.exclusive) drop(a.f);
      else unlockAndClose(a.f);
    }
  }
  return locks;
}

/** Truncates (no stale holder name for the next reader), unlocks and closes a held file. */
function drop(f: Deno.FsFile): void {
  try {
    f.truncateSync(0);
  } catch { /* a read-only moment: the name is merely stale */ }
  unlockAndClose(f);
}

function unlockAndClose(f: Deno.FsFile): void {
  try {
    // Unlock before closing: a child process forked this instant (and not yet exec'd, which
    // closes it) shares the descriptor, and would otherwise keep the lock a moment longer.
    f.unlockSync();
  } catch { /* closing releases it anyway */ }
  try {
    f.close(); // closing the descriptor releases its flock
  } catch { /* already closed */ }
}

/** Writes the holder's name into a file just locked; a full disk is one clear line. */
function writeHolder(f: Deno.FsFile, dir: string, name: string, text: string): void {
  try {
    f.truncateSync(0);
    f.seekSync(0, Deno.SeekMode.Start);
    const bytes = new TextEncoder().encode(text);
    let off = 0;
    while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
  } catch (e) {
    unlockAndClose(f);
    throw new DatabaseError(
      `cannot write the lock file ${dir}/${name}: ${describeFileError(e)}; ${
        /no space/i.test(describeFileError(e))
          ? "free space on its file system"
          : "check the lock directory"
      }, then run the command again (nothing was changed)`,
    );
  }
}

function readHolder(f: Deno.FsFile): LockHolder | null {
  // The holder writes its name just after taking the lock: a reader in between sees an
  // empty file, so look again a few times (10 ms apart) before giving up on the name.
  for (let i = 0; i < 20; i++) {
    try {
      const buf = new Uint8Array(512);
      f.seekSync(0, Deno.SeekMode.Start);
      const n = f.readSync(buf) ?? 0;
      const v = JSON.parse(new TextDecoder().decode(buf.subarray(0, n)));
      if (typeof v?.pid === "number") return v as LockHolder;
    } catch {
      // empty or half-written: look again
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  return null;
}

/** Among the lock files of `first` (then every other), one held by another process. */
function findHeld(
  dir: string,
  first: readonly string[],
): { uuid: string; holder: LockHolder | null } | null {
  const names = function* () {
    yield* first;
    for (const e of Deno.readDirSync(dir)) if (e.name !== ALL) yield e.name;
  };
  for (const uuid of names()) {
    let f: Deno.FsFile | null;
    try {
      f = openLockFile(dir, uuid, false);
    } catch {
      continue;
    }
    if (f === null) continue;
    try {
      if (f.tryLockSync(true)) f.unlockSync();
      else return { uuid, holder: readHolder(f) };
    } finally {
      f.close();
    }
  }
  return null;
}

/**
 * Opens `dir/name` for reading and writing, never through a link: a link or anything but a
 * regular file is refused, a missing file is created only with `create` (O_EXCL, which never
 * follows a link planted meanwhile; null without it), and the file opened must be the one looked
 * at, owned by us with no other name (a hard link to another user's file would be truncated).
 */
function openLockFile(dir: string, name: string, create: boolean): Deno.FsFile | null {
  const path = `${dir}/${name}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    let t;
    try {
      t = fileTarget(path, { for: "append" });
    } catch (e) {
      if (e instanceof FileTargetError) throw lockFileError(path, e.why, e.reason === "access");
      throw e;
    }
    if (t.kind === "missing") {
      if (!create) return null;
      try {
        const f = Deno.openSync(path, { read: true, write: true, createNew: true, mode: 0o600 });
        Deno.chmodSync(path, 0o600); // ours, just created: the umask filtered its mode
        return f;
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) continue; // another process won: look again
        throw lockFileError(path, describeFileError(e), true);
      }
    }
    let f: Deno.FsFile;
    try {
      f = Deno.openSync(path, { read: true, write: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw lockFileError(path, describeFileError(e), true);
    }
    const st = f.statSync();
    const uid = Deno.uid();
    if (!sameFile(st, t.info!) || !st.isFile) {
      f.close();
      continue; // replaced between the look and the open: look again
    }
    if ((uid !== null && st.uid !== uid) || st.nlink !== 1) {
      f.close();
      throw lockFileError(
        path,
        st.nlink !== 1
          ? `it has ${st.nlink} names (a hard link to another file)`
          : `it belongs to uid ${st.uid}, not to this user`,
        false,
      );
    }
    return f;
  }
  throw lockFileError(path, "it keeps being replaced by another process", false);
}

function lockFileError(path: string, why: string, access: boolean): DatabaseError {
  return new DatabaseError(
    `cannot use the lock file ${path}: ${why}; ${
      access
        ? /no space/i.test(why)
          ? "free space on its file system, then run the command again"
          : "run as root"
        : "remove it (vgpu-admin creates it again), then run the command again"
    }`,
  );
}

/**
 * Creates the lock directory 0700 (mode set explicitly: a umask of 777 would leave it unusable)
 * or checks the existing one: a real directory (not a link), owned by this user and writable by
 * nobody else, or a planted link inside it could make a root run truncate another file.
 * Returns the directory.
 */
function ensureDir(dir: string, create: boolean): string | null {
  let st: Deno.FileInfo | null = null;
  try {
    st = Deno.lstatSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw lockDirError(dir, e);
  }
  if (st === null) {
    if (!create) return null;
    try {
      Deno.mkdirSync(dir, { mode: 0o700 });
      Deno.chmodSync(dir, 0o700); // ours, just created: the umask filtered its mode
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw lockDirError(dir, e);
    }
    st = Deno.lstatSync(dir);
  }
  if (!st.isDirectory || st.isSymlink) {
    throw new DatabaseError(
      `${dir} is not a directory (it holds vgpu-admin's VM locks); move it away and run the command again`,
    );
  }
  const uid = Deno.uid();
  if (uid !== null && st.uid !== uid) {
    throw new DatabaseError(
      `the VM lock directory ${dir} belongs to uid ${st.uid}, not to this user; remove it (vgpu-admin creates it again), then run the command again`,
    );
  }
  if (st.mode !== null && (st.mode & 0o022) !== 0) {
    throw new DatabaseError(
      `the VM lock directory ${dir} is writable by other users (mode 0${
        (st.mode & 0o777).toString(8)
      }); remove it (vgpu-admin creates it again) or run 'chmod 700 ${dir}', then run the command again`,
    );
  }
  return dir;
}

function lockDirError(dir: string, e: unknown): DatabaseError {
  const why = e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
    ? "permission denied (run as root)"
    : describeFileError(e);
  return new DatabaseError(
    `cannot create the VM lock directory ${dir}: ${why}${
      /no space/i.test(why) ? "; free space on its file system, then run the command again" : ""
    }`,
  );
}
