// Replacing a file whole or not at all: the one way vgpu-admin writes files other than the
// database (the export, the hook script, the logrotate snippet).

/**
 * Writes `text` to a new file in `tmpDir` (created exclusively with `mode`, synced), then renames
 * it over `target`; a symbolic link at `target` is refused (LinkTargetError). On failure the temporary file is removed and the error is thrown as is: the
 * caller words it. `mode` is set again after writing, because the umask filters it at creation.
 */
/** Thrown by replaceFile for a target that is a symbolic link; its message is the reason. */
export class LinkTargetError extends Error {
  constructor(readonly target: string, readonly linkTo: string) {
    super(
      `it is a symbolic link to ${linkTo}; vgpu-admin never writes through a link: remove the link or give the real path`,
    );
  }
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

export function replaceFile(
  target: string,
  text: string,
  o: { mode: number; tmpDir: string },
): void {
  // A link is refused, never followed: a link planted in a shared directory (/tmp) would
  // otherwise make a root run replace any file. (The rename itself replaces a link, not its
  // target, so a link planted after this check only loses the link.)
  const to = linkTarget(target);
  if (to !== null) throw new LinkTargetError(target, to);
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
