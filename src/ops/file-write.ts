// Replacing a file whole or not at all: the one way vgpu-admin writes files other than the
// database (the export, the hook script, the logrotate snippet). Which targets may be written is
// fileTarget's rule (src/platform/file-target.ts), checked here before anything is written.
import { fileTarget } from "../platform/file-target.ts";

export { linkTarget } from "../platform/file-target.ts";

/**
 * Writes `text` to a new file in `tmpDir` (created exclusively with `mode`, synced), then renames
 * it over `target`. A target that is a symbolic link, a directory or a special file is refused
 * (FileTargetError, whose `why` says what it is). On failure the temporary file is removed and
 * the error is thrown as is: the caller words it. `mode` is set again after writing, because the
 * umask filters it at creation.
 */
export function replaceFile(
  target: string,
  text: string,
  o: { mode: number; tmpDir: string },
): void {
  // A link is refused, never followed: a link planted in a shared directory (/tmp) would
  // otherwise make a root run replace any file. (The rename itself replaces a link, not its
  // target, so a link planted after this check only loses the link.)
  fileTarget(target, { for: "write" });
  const base = target.slice(target.lastIndexOf("/") + 1);
  const tmp = `${o.tmpDir}/.${base}.vgpu-admin-tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const f = Deno.openSync(tmp, { createNew: true, write: true, mode: o.mode });
    try {
      const bytes = new TextEncoder().encode(text);
      let off = 0;
      while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.chmodSync(tmp, o.mode);
    Deno.renameSync(tmp, target);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never created, or already renamed */ }
    throw e;
  }
}
