// The operation lock per VM (design.md §5 step 1): one reconfiguration, register, remove, sync,
// adopt or import touches a VM at a time. An flock on `<db>.locks/<uuid>`: the kernel releases
// it when its process ends however it ends (kill -9 included), so a dead process holds nothing.
// The file keeps the holder's command, pid and start time for the refusal message. Files are
// never deleted: unlinking a lock file while another process opens it would let two hold it.
import { humanTime } from "../domain/time.ts";
import { BusyError, DatabaseError } from "../domain/errors.ts";

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

export function lockDirFor(dbPath: string): string {
  return `${dbPath}.locks`;
}

export function createVmLocks(
  dbPath: string,
  me: { command: string; pid: number; now: () => Date },
): VmLocks {
  const dir = lockDirFor(dbPath);
  const held = new Map<string, Deno.FsFile>();

  const open = (uuid: string): Deno.FsFile => {
    ensureDir(dir);
    try {
      return Deno.openSync(`${dir}/${uuid}`, {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
    } catch (e) {
      throw new DatabaseError(
        `cannot use the lock file ${dir}/${uuid}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  };
  const readHolder = (f: Deno.FsFile): LockHolder | null => {
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
  };

  const locks: VmLocks = {
    acquire(uuids) {
      const taken: string[] = [];
      try {
        for (const uuid of [...new Set(uuids)].sort()) {
          if (held.has(uuid)) continue;
          const f = open(uuid);
          if (!f.tryLockSync(true)) {
            const h = readHolder(f);
            f.close();
            throw new BusyError(
              `VM ${uuid} is being changed by another vgpu-admin (${
                h === null
                  ? "a process that is starting"
                  : `${h.command}, pid ${h.pid}, since ${humanTime(h.since)}`
              }); wait for it to finish, then run the command again`,
            );
          }
          const text = JSON.stringify({
            command: me.command,
            pid: me.pid,
            since: me.now().toISOString(),
          });
          f.truncateSync(0);
          f.seekSync(0, Deno.SeekMode.Start);
          f.writeSync(new TextEncoder().encode(text));
          held.set(uuid, f);
          taken.push(uuid);
        }
      } catch (e) {
        for (const uuid of taken) release(uuid);
        throw e;
      }
    },
    isFree(uuid) {
      if (held.has(uuid)) return false;
      let f: Deno.FsFile;
      try {
        f = Deno.openSync(`${dir}/${uuid}`, { read: true, write: true });
      } catch {
        return true; // never locked
      }
      try {
        if (!f.tryLockSync(true)) return false;
        f.unlockSync();
        return true;
      } finally {
        f.close();
      }
    },
    holder(uuid) {
      let f: Deno.FsFile;
      try {
        f = Deno.openSync(`${dir}/${uuid}`, { read: true, write: true });
      } catch {
        return null;
      }
      try {
        if (f.tryLockSync(true)) {
          f.unlockSync();
          return null;
        }
        return readHolder(f);
      } finally {
        f.close();
      }
    },
    releaseAll() {
      for (const uuid of [...held.keys()]) release(uuid);
    },
  };
  function release(uuid: string): void {
    const f = held.get(uuid);
    if (f === undefined) return;
    held.delete(uuid);
    try {
      f.truncateSync(0); // no stale holder name for the next reader to find
    } catch { /* a read-only moment: the name is merely stale */ }
    try {
      // Unlock before closing: a child process forked this instant (and not yet exec'd, which
      // closes it) shares the descriptor, and would otherwise keep the lock a moment longer.
      f.unlockSync();
    } catch { /* closing releases it anyway */ }
    try {
      f.close(); // closing the descriptor releases its flock
    } catch { /* already closed */ }
  }
  return locks;
}

function ensureDir(dir: string): void {
  let st: Deno.FileInfo | null = null;
  try {
    st = Deno.lstatSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw lockDirError(dir, e);
  }
  if (st === null) {
    try {
      Deno.mkdirSync(dir, { mode: 0o700 });
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
}

function lockDirError(dir: string, e: unknown): DatabaseError {
  const why = e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
    ? "permission denied (run as root)"
    : e instanceof Error
    ? e.message
    : String(e);
  return new DatabaseError(`cannot create the VM lock directory ${dir}: ${why}`);
}
